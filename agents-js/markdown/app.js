// `markdown`: Markdown rendered to HTML as CommonMark specifies it (markdown-it's `commonmark`
// preset, which commonmark.js, the reference implementation, agrees with on the spec's examples), or
// with GitHub's tables, strikethrough and bare links (`flavor: "gfm"`); and the outline of a
// document (its headings with GitHub's anchors, made by github-slugger, its links and images).
//
// Operations: `render`, `outline` (inline `text` or `files`). Built by `tandem build
// agents-js/markdown` (esbuild + componentize-js); written with the `tandem-agent` helper.

import GithubSlugger from "github-slugger";
import MarkdownIt from "markdown-it";
import { Agent, InvalidInput, SOURCES_SCHEMA, log, sources } from "tandem-agent";

const agent = new Agent({
  id: "markdown",
  description: "Markdown to HTML (CommonMark or GitHub-flavoured) and document outlines, with markdown-it",
  version: "0.1.0",
});

const FLAVORS = ["commonmark", "gfm"];

/** A markdown-it for `flavor`; `rawHtml` false escapes the HTML written in the document. */
function renderer(flavor, rawHtml) {
  if (flavor === "gfm") {
    return new MarkdownIt("default", { html: rawHtml, linkify: true });
  }
  return new MarkdownIt("commonmark", { html: rawHtml });
}

/** The options common to both operations, checked. */
function options(input) {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new InvalidInput("the input is an object: `text` or `files`, and options");
  }
  const known = new Set(["text", "name", "files", "paths", "flavor", "raw_html"]);
  const unknown = Object.keys(input).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw new InvalidInput(`unknown field(s): ${unknown.sort().join(", ")}`);
  }
  const flavor = input.flavor ?? "commonmark";
  if (!FLAVORS.includes(flavor)) {
    throw new InvalidInput(`\`flavor\` is one of ${FLAVORS.join(", ")}, not ${JSON.stringify(flavor)}`);
  }
  const rawHtml = input.raw_html ?? true;
  if (typeof rawHtml !== "boolean") throw new InvalidInput("`raw_html` is true or false");
  return { flavor, rawHtml };
}

/** The documents of `input`, a leading byte-order mark dropped (as cmark and commonmark.js do). */
function documents(input) {
  return sources(input, "<text>").map(([name, text]) => [name, text.replace(/^\uFEFF/, "")]);
}

const INPUT_SCHEMA = {
  type: "object",
  additionalProperties: false,
  properties: {
    ...SOURCES_SCHEMA,
    flavor: {
      enum: FLAVORS,
      description: "commonmark (default): the spec; gfm: also tables, strikethrough and bare links",
    },
    raw_html: {
      type: "boolean",
      description: "pass HTML written in the document through (default true); false escapes it",
    },
  },
};

agent.operation(
  {
    name: "render",
    description: "Renders each document to HTML (CommonMark, or GitHub-flavoured)",
    deterministic: true,
    example: { text: "# Title\n\nSome *emphasis* and a [link](https://example.com).\n" },
    schema: INPUT_SCHEMA,
  },
  (input) => {
    const { flavor, rawHtml } = options(input);
    const md = renderer(flavor, rawHtml);
    const rendered = documents(input).map(([name, text]) => ({ name, html: md.render(text) }));
    log("info", "rendered", { documents: rendered.length, flavor });
    return { documents: rendered };
  },
);

/** The text of an inline token's children, as a reader sees it. */
function plainText(token) {
  return (token.children ?? [])
    .map((child) => {
      if (child.type === "text" || child.type === "code_inline") return child.content;
      if (child.type === "image") return plainText(child);
      if (child.type === "softbreak" || child.type === "hardbreak") return " ";
      return "";
    })
    .join("");
}

/** Headings, links and images of one document, with the lines they start on (1-based). */
function outlineOf(md, text) {
  const tokens = md.parse(text, {});
  const headings = [];
  const links = [];
  const images = [];
  const slugger = new GithubSlugger();
  tokens.forEach((token, i) => {
    if (token.type === "heading_open") {
      const inline = tokens[i + 1];
      const title = plainText(inline);
      headings.push({
        level: Number(token.tag.slice(1)),
        text: title,
        anchor: slugger.slug(title),
        line: token.map[0] + 1,
      });
    }
    if (token.type !== "inline") return;
    const line = token.map ? token.map[0] + 1 : null;
    const children = token.children ?? [];
    children.forEach((child, j) => {
      if (child.type === "link_open") {
        let k = j + 1;
        let label = "";
        while (k < children.length && children[k].type !== "link_close") {
          if (children[k].type === "text" || children[k].type === "code_inline") label += children[k].content;
          k += 1;
        }
        links.push({ href: child.attrGet("href"), text: label, line });
      } else if (child.type === "image") {
        images.push({ src: child.attrGet("src"), alt: plainText(child), line });
      }
    });
  });
  return { headings, links, images };
}

agent.operation(
  {
    name: "outline",
    description: "Headings (with GitHub's anchors), links and images of each document",
    deterministic: true,
    example: { text: "# Guide\n\n## Install\n\nSee [the site](https://example.com).\n" },
    schema: INPUT_SCHEMA,
  },
  (input) => {
    const { flavor, rawHtml } = options(input);
    const md = renderer(flavor, rawHtml);
    return {
      documents: documents(input).map(([name, text]) => ({ name, ...outlineOf(md, text) })),
    };
  },
);

export const { handler, schemas } = agent.exports();
