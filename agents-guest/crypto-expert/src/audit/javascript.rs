//! JavaScript and TypeScript, on `oxc`'s tree: Node's `crypto` calls by name and their literal
//! arguments, `Math.random()` feeding a variable, property or function whose name says it is a
//! secret, and TLS options that turn verification off.

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    Argument, AssignmentExpression, AssignmentTarget, BindingPattern, CallExpression, Expression,
    Function, ObjectProperty, PropertyKey, VariableDeclarator,
};
use oxc_ast_visit::{Visit, walk};
use oxc_span::GetSpan;

use super::{
    ECB_MODE, HARDCODED_KEY, INSECURE_RANDOM, NO_CERT_CHECK, Report, STATIC_IV, WEAK_CIPHER,
    WEAK_HASH, WEAK_RSA, secret_name,
};
use guest_support::Finding;

struct Js<'a> {
    report: Report<'a>,
    context: Vec<String>,
}

fn string(e: &Expression) -> Option<String> {
    match e {
        Expression::StringLiteral(s) => Some(s.value.to_string()),
        Expression::TemplateLiteral(t) if t.expressions.is_empty() => {
            Some(t.quasis.iter().map(|q| q.value.raw.as_str()).collect())
        }
        _ => None,
    }
}

fn argument<'b, 'a>(call: &'b CallExpression<'a>, i: usize) -> Option<&'b Expression<'a>> {
    call.arguments.get(i).and_then(Argument::as_expression)
}

/// `Buffer.alloc(16)`, `Buffer.from("...")`, `new Uint8Array(12)`, a string: not random.
fn constant_bytes(e: &Expression) -> bool {
    match e {
        Expression::StringLiteral(_) => true,
        Expression::TemplateLiteral(t) => t.expressions.is_empty(),
        Expression::CallExpression(c) => {
            callee(c).is_some_and(|n| matches!(n.as_str(), "Buffer.alloc" | "Buffer.from"))
                && argument(c, 0).is_some_and(|a| {
                    matches!(a, Expression::NumericLiteral(_)) || string(a).is_some()
                })
        }
        Expression::NewExpression(n) => {
            matches!(&n.callee, Expression::Identifier(id) if id.name == "Uint8Array")
                && n.arguments
                    .first()
                    .and_then(Argument::as_expression)
                    .is_some_and(|a| matches!(a, Expression::NumericLiteral(_)))
        }
        _ => false,
    }
}

fn callee(call: &CallExpression) -> Option<String> {
    match &call.callee {
        Expression::Identifier(id) => Some(id.name.to_string()),
        Expression::StaticMemberExpression(m) => match &m.object {
            Expression::Identifier(o) => Some(format!("{}.{}", o.name, m.property.name)),
            _ => Some(m.property.name.to_string()),
        },
        _ => None,
    }
}

fn key_name(key: &PropertyKey) -> Option<String> {
    match key {
        PropertyKey::StaticIdentifier(id) => Some(id.name.to_string()),
        PropertyKey::StringLiteral(s) => Some(s.value.to_string()),
        _ => None,
    }
}

pub fn scan(file: &str, text: &str) -> Result<Vec<Finding>, String> {
    let allocator = Allocator::default();
    let program = guest_support::parse::javascript(&allocator, file, text)?;
    let mut js = Js {
        report: Report::new(file, text),
        context: Vec::new(),
    };
    js.visit_program(&program);
    Ok(js.report.out)
}

impl<'a> Visit<'a> for Js<'_> {
    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        let at = it.span.start as usize;
        let name = callee(it).unwrap_or_default();
        let last = name.rsplit('.').next().unwrap_or(&name).to_string();
        let first = argument(it, 0)
            .and_then(string)
            .map(|s| s.to_ascii_lowercase());
        match last.as_str() {
            "createHash" | "createHmac"
                if first
                    .as_deref()
                    .is_some_and(|a| matches!(a, "md5" | "sha1" | "md4"))
                    && last == "createHash" =>
            {
                self.report.at_offset(
                    at,
                    &WEAK_HASH,
                    &format!("{name}('{}')", first.as_deref().unwrap_or("")),
                );
            }
            "createCipheriv" | "createDecipheriv" | "createCipher" => {
                let algorithm = first.clone().unwrap_or_default();
                if algorithm.ends_with("-ecb") {
                    self.report.at_offset(at, &ECB_MODE, &algorithm);
                }
                if algorithm.starts_with("des")
                    || algorithm.starts_with("rc4")
                    || algorithm.starts_with("bf")
                    || algorithm.starts_with("blowfish")
                {
                    self.report.at_offset(at, &WEAK_CIPHER, &algorithm);
                }
                if argument(it, 1).is_some_and(|k| string(k).is_some()) {
                    self.report
                        .at_offset(at, &HARDCODED_KEY, &format!("{name} key"));
                }
                if argument(it, 2).is_some_and(constant_bytes) {
                    self.report.at_offset(at, &STATIC_IV, &format!("{name} IV"));
                }
            }
            "generateKeyPairSync" | "generateKeyPair"
                if first.as_deref() == Some("rsa") || first.as_deref() == Some("dsa") =>
            {
                if let Some(Expression::ObjectExpression(options)) = argument(it, 1) {
                    for property in &options.properties {
                        if let Some(p) = property.as_property()
                            && key_name(&p.key).as_deref() == Some("modulusLength")
                            && let Expression::NumericLiteral(n) = &p.value
                            && n.value < 2048.0
                        {
                            self.report.at_offset(
                                at,
                                &WEAK_RSA,
                                &format!("modulusLength {}", n.value),
                            );
                        }
                    }
                }
            }
            "random" if name == "Math.random" => {
                if let Some(context) = self.context.iter().rev().find(|n| secret_name(n)) {
                    let detail = format!("Math.random() for `{context}`");
                    self.report.at_offset(at, &INSECURE_RANDOM, &detail);
                }
            }
            _ => {}
        }
        walk::walk_call_expression(self, it);
    }

    fn visit_variable_declarator(&mut self, it: &VariableDeclarator<'a>) {
        let depth = self.context.len();
        if let BindingPattern::BindingIdentifier(id) = &it.id {
            self.context.push(id.name.to_string());
            let lower = id.name.to_ascii_lowercase();
            if matches!(lower.as_str(), "iv" | "nonce")
                && it.init.as_ref().is_some_and(constant_bytes)
            {
                self.report
                    .at_offset(it.span.start as usize, &STATIC_IV, &id.name);
            }
        }
        walk::walk_variable_declarator(self, it);
        self.context.truncate(depth);
    }

    fn visit_object_property(&mut self, it: &ObjectProperty<'a>) {
        let depth = self.context.len();
        if let Some(name) = key_name(&it.key) {
            if name == "rejectUnauthorized"
                && matches!(&it.value, Expression::BooleanLiteral(b) if !b.value)
            {
                self.report.at_offset(
                    it.span.start as usize,
                    &NO_CERT_CHECK,
                    "rejectUnauthorized: false",
                );
            }
            self.context.push(name);
        }
        walk::walk_object_property(self, it);
        self.context.truncate(depth);
    }

    fn visit_assignment_expression(&mut self, it: &AssignmentExpression<'a>) {
        let depth = self.context.len();
        if let AssignmentTarget::StaticMemberExpression(m) = &it.left {
            let property = m.property.name.as_str();
            if property == "NODE_TLS_REJECT_UNAUTHORIZED"
                && string(&it.right).as_deref() == Some("0")
            {
                self.report.at_offset(
                    it.span().start as usize,
                    &NO_CERT_CHECK,
                    "NODE_TLS_REJECT_UNAUTHORIZED = '0'",
                );
            }
            self.context.push(property.to_string());
        }
        if let AssignmentTarget::AssignmentTargetIdentifier(id) = &it.left {
            self.context.push(id.name.to_string());
        }
        walk::walk_assignment_expression(self, it);
        self.context.truncate(depth);
    }

    fn visit_function(&mut self, it: &Function<'a>, flags: oxc_syntax::scope::ScopeFlags) {
        let depth = self.context.len();
        if let Some(id) = &it.id {
            self.context.push(id.name.to_string());
        }
        walk::walk_function(self, it, flags);
        self.context.truncate(depth);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<(usize, String)> {
        scan("t.js", text)
            .unwrap()
            .into_iter()
            .map(|f| (f.line, f.rule))
            .collect()
    }

    #[test]
    fn node_crypto_misuse() {
        let text = r#"const crypto = require('crypto');
const h = crypto.createHash('md5').update(x).digest('hex');
const ok = crypto.createHash('sha256');
const c = crypto.createCipheriv('aes-128-ecb', key, null);
const iv = Buffer.alloc(16, 0);
const d = crypto.createCipheriv('aes-256-cbc', 'k3y-written-in-source-0123456789', Buffer.alloc(16));
const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
const sessionToken = Math.random().toString(36).slice(2);
const jitter = Math.random() * 100;
https.request({ host, rejectUnauthorized: false });
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
function makeResetToken() { return Math.random().toString(36); }
"#;
        let got = rules(text);
        let got: Vec<(usize, &str)> = got.iter().map(|(l, r)| (*l, r.as_str())).collect();
        assert_eq!(
            got,
            [
                (2, "weak-hash"),
                (4, "ecb-mode"),
                (5, "static-iv"),
                (6, "hardcoded-key"),
                (6, "static-iv"),
                (7, "weak-rsa"),
                (8, "insecure-random"),
                (10, "cert-verification-disabled"),
                (11, "cert-verification-disabled"),
                (12, "insecure-random"),
            ]
        );
    }
}
