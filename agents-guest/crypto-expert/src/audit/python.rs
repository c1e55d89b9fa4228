//! Python, on `rustpython-parser`'s tree: calls are matched by their qualified name after imports
//! (`from Crypto.Cipher import AES` makes `AES.new` `Crypto.Cipher.AES.new`), keywords and
//! literal arguments are read from the call, and a predictable `random` call counts when the name
//! it is assigned to, or the function it is in, says it is a secret.

use guest_support::parse::Imports;
use rustpython_ast::{self as ast, Constant, Expr, Ranged, Visitor};

use super::{
    ECB_MODE, HARDCODED_KEY, INSECURE_RANDOM, NO_CERT_CHECK, Report, Rule, STATIC_IV, WEAK_CIPHER,
    WEAK_HASH, WEAK_RSA, secret_name,
};
use guest_support::Finding;

struct Py<'a> {
    report: Report<'a>,
    imports: Imports,
    /// Names being assigned and functions being defined, innermost last.
    context: Vec<String>,
}

pub fn scan(file: &str, text: &str) -> Result<Vec<Finding>, String> {
    let module = guest_support::parse::python(file, text)?;
    let mut py = Py {
        report: Report::new(file, text),
        imports: Imports::default(),
        context: Vec::new(),
    };
    for stmt in module.body {
        py.visit_stmt(stmt);
    }
    Ok(py.report.out)
}

fn bytes_or_str_literal(e: &Expr) -> Option<usize> {
    match e {
        Expr::Constant(c) => match &c.value {
            Constant::Bytes(b) => Some(b.len()),
            Constant::Str(s) => Some(s.len()),
            _ => None,
        },
        // b"\x00" * 16
        Expr::BinOp(b) if matches!(b.op, ast::Operator::Mult) => {
            bytes_or_str_literal(&b.left).or_else(|| bytes_or_str_literal(&b.right))
        }
        Expr::Call(c) => {
            // bytes(16), bytearray(16), bytes.fromhex("...")
            let name = match c.func.as_ref() {
                Expr::Name(n) => n.id.to_string(),
                Expr::Attribute(a) => a.attr.to_string(),
                _ => return None,
            };
            match name.as_str() {
                "bytes" | "bytearray" | "fromhex" => match c.args.first() {
                    Some(Expr::Constant(k)) => match &k.value {
                        Constant::Int(_) | Constant::Str(_) => Some(16),
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}

fn int_literal(e: &Expr) -> Option<i64> {
    match e {
        Expr::Constant(c) => match &c.value {
            Constant::Int(i) => i.to_string().parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

fn is_false(e: &Expr) -> bool {
    matches!(e, Expr::Constant(c) if matches!(c.value, Constant::Bool(false)))
}

fn str_literal(e: &Expr) -> Option<String> {
    match e {
        Expr::Constant(c) => match &c.value {
            Constant::Str(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

impl Py<'_> {
    fn qualified(&self, expr: &Expr) -> Option<String> {
        self.imports.qualified(expr)
    }

    fn flag(&mut self, node: &impl Ranged, rule: &Rule, detail: &str) {
        self.report
            .at_offset(usize::from(node.start()), rule, detail);
    }

    fn call(&mut self, call: &ast::ExprCall) {
        let Some(q) = self.qualified(&call.func) else {
            return;
        };
        let last = q.rsplit('.').next().unwrap_or(&q).to_string();
        let keyword = |name: &str| {
            call.keywords
                .iter()
                .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == name))
                .map(|k| &k.value)
        };
        let arg = |i: usize| call.args.get(i);
        // Weak hashes, unless declared not for security.
        let not_security = keyword("usedforsecurity").is_some_and(is_false);
        let weak_hash = matches!(q.as_str(), "hashlib.md5" | "hashlib.sha1")
            || (q == "hashlib.new"
                && arg(0)
                    .and_then(str_literal)
                    .is_some_and(|n| matches!(n.to_ascii_lowercase().as_str(), "md5" | "sha1")))
            || q.ends_with("Hash.MD5.new")
            || q.ends_with("Hash.SHA1.new")
            || q.ends_with("hashes.MD5")
            || q.ends_with("hashes.SHA1");
        if weak_hash && !not_security {
            self.flag(call, &WEAK_HASH, &q);
        }
        // ECB: cryptography's modes.ECB(), PyCryptodome's MODE_ECB argument.
        let ecb_argument = call
            .args
            .iter()
            .chain(call.keywords.iter().map(|k| &k.value))
            .any(|a| matches!(a, Expr::Attribute(attr) if attr.attr.as_str() == "MODE_ECB"));
        if q.ends_with("modes.ECB") || ecb_argument {
            self.flag(call, &ECB_MODE, &q);
        }
        if q.ends_with("algorithms.TripleDES")
            || q.ends_with("algorithms.Blowfish")
            || q.ends_with("algorithms.ARC4")
            || q.ends_with("Cipher.DES.new")
            || q.ends_with("Cipher.DES3.new")
            || q.ends_with("Cipher.ARC4.new")
            || q.ends_with("Cipher.Blowfish.new")
        {
            self.flag(call, &WEAK_CIPHER, &q);
        }
        // Constant IVs: modes.CBC(b"..."), AES.new(key, AES.MODE_CBC, b"..."), iv=/nonce= literals.
        let mode_with_iv = [
            "modes.CBC",
            "modes.GCM",
            "modes.CTR",
            "modes.CFB",
            "modes.OFB",
        ]
        .iter()
        .any(|m| q.ends_with(m));
        if mode_with_iv && arg(0).and_then(bytes_or_str_literal).is_some() {
            self.flag(call, &STATIC_IV, &q);
        }
        let cipher_new = q.ends_with("Cipher.AES.new")
            || q.ends_with("Cipher.ChaCha20.new")
            || q.ends_with("Cipher.ChaCha20_Poly1305.new");
        if cipher_new
            && (arg(2).and_then(bytes_or_str_literal).is_some()
                || keyword("iv").and_then(bytes_or_str_literal).is_some()
                || keyword("nonce").and_then(bytes_or_str_literal).is_some())
        {
            self.flag(call, &STATIC_IV, &q);
        }
        // Keys written in the call: AES.new(b"..."), algorithms.AES(b"..."), AESGCM(b"..."), Fernet(b"...").
        let takes_key = cipher_new
            || q.ends_with("algorithms.AES")
            || matches!(
                last.as_str(),
                "AESGCM" | "ChaCha20Poly1305" | "AESCCM" | "Fernet"
            )
            || (q == "hmac.new" && arg(0).is_some());
        let key_arg = arg(0).or_else(|| keyword("key"));
        if takes_key
            && key_arg
                .and_then(bytes_or_str_literal)
                .is_some_and(|n| n >= 8)
        {
            self.flag(call, &HARDCODED_KEY, &q);
        }
        // Short RSA/DSA keys.
        let rsa_bits =
            if q.ends_with("rsa.generate_private_key") || q.ends_with("dsa.generate_private_key") {
                keyword("key_size").or_else(|| arg(1)).and_then(int_literal)
            } else if q.ends_with("PublicKey.RSA.generate")
                || q.ends_with("PublicKey.DSA.generate")
                || q == "rsa.newkeys"
            {
                arg(0).or_else(|| keyword("bits")).and_then(int_literal)
            } else {
                None
            };
        if let Some(bits) = rsa_bits.filter(|b| *b < 2048) {
            self.flag(call, &WEAK_RSA, &format!("{q} with {bits} bits"));
        }
        // `random` for secrets.
        let predictable = q.starts_with("random.")
            && matches!(
                last.as_str(),
                "random"
                    | "randint"
                    | "randrange"
                    | "choice"
                    | "choices"
                    | "getrandbits"
                    | "sample"
                    | "randbytes"
                    | "uniform"
            );
        if predictable && let Some(name) = self.context.iter().rev().find(|n| secret_name(n)) {
            let detail = format!("{q} for `{name}`");
            self.flag(call, &INSECURE_RANDOM, &detail);
        }
        // Certificate checks.
        let http_call = q.starts_with("requests.")
            || q.starts_with("httpx.")
            || matches!(
                last.as_str(),
                "get"
                    | "post"
                    | "put"
                    | "patch"
                    | "delete"
                    | "head"
                    | "request"
                    | "Client"
                    | "AsyncClient"
                    | "urlopen"
            );
        if http_call && keyword("verify").is_some_and(is_false) {
            self.flag(call, &NO_CERT_CHECK, &format!("{q}(verify=False)"));
        }
        if q == "ssl._create_unverified_context" {
            self.flag(call, &NO_CERT_CHECK, &q);
        }
        if keyword("cert_reqs")
            .and_then(|v| self.qualified(v))
            .is_some_and(|v| v == "ssl.CERT_NONE")
        {
            self.flag(call, &NO_CERT_CHECK, "cert_reqs=ssl.CERT_NONE");
        }
    }

    fn assign(&mut self, targets: &[Expr], value: &Expr) {
        for target in targets {
            match target {
                Expr::Attribute(a)
                    if a.attr.as_str() == "verify_mode"
                        && self.qualified(value).is_some_and(|v| v == "ssl.CERT_NONE") =>
                {
                    self.flag(target, &NO_CERT_CHECK, "verify_mode = ssl.CERT_NONE");
                }
                Expr::Attribute(a) if a.attr.as_str() == "check_hostname" && is_false(value) => {
                    self.flag(target, &NO_CERT_CHECK, "check_hostname = False");
                }
                Expr::Name(n) => {
                    let name = n.id.as_str();
                    let lower = name.to_ascii_lowercase();
                    let literal = bytes_or_str_literal(value);
                    if matches!(lower.as_str(), "iv" | "nonce") && literal.is_some() {
                        self.flag(target, &STATIC_IV, name);
                    }
                    let key_name = lower.ends_with("key")
                        && !lower.ends_with("public_key")
                        && (lower == "key"
                            || lower.ends_with("_key")
                            || lower.ends_with("secretkey"));
                    if key_name
                        && !lower.contains("api")
                        && matches!(value, Expr::Constant(c) if matches!(c.value, Constant::Bytes(_)))
                        && literal.is_some_and(|n| n >= 16)
                    {
                        self.flag(target, &HARDCODED_KEY, name);
                    }
                }
                _ => {}
            }
        }
    }

    fn names(targets: &[Expr]) -> Vec<String> {
        targets
            .iter()
            .filter_map(|t| match t {
                Expr::Name(n) => Some(n.id.to_string()),
                Expr::Attribute(a) => Some(a.attr.to_string()),
                Expr::Subscript(s) => match s.slice.as_ref() {
                    Expr::Constant(c) => match &c.value {
                        Constant::Str(k) => Some(k.clone()),
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }
}

impl Visitor for Py<'_> {
    fn visit_stmt_import(&mut self, node: ast::StmtImport) {
        self.imports.import(&node);
    }

    fn visit_stmt_import_from(&mut self, node: ast::StmtImportFrom) {
        self.imports.import_from(&node);
    }

    fn visit_stmt_function_def(&mut self, node: ast::StmtFunctionDef) {
        self.context.push(node.name.to_string());
        self.generic_visit_stmt_function_def(node);
        self.context.pop();
    }

    fn visit_stmt_async_function_def(&mut self, node: ast::StmtAsyncFunctionDef) {
        self.context.push(node.name.to_string());
        self.generic_visit_stmt_async_function_def(node);
        self.context.pop();
    }

    fn visit_stmt_assign(&mut self, node: ast::StmtAssign) {
        self.assign(&node.targets, &node.value);
        let names = Self::names(&node.targets);
        let depth = self.context.len();
        self.context.extend(names);
        self.generic_visit_stmt_assign(node);
        self.context.truncate(depth);
    }

    fn visit_stmt_ann_assign(&mut self, node: ast::StmtAnnAssign) {
        if let Some(value) = &node.value {
            self.assign(std::slice::from_ref(&node.target), value);
        }
        let names = Self::names(std::slice::from_ref(&node.target));
        let depth = self.context.len();
        self.context.extend(names);
        self.generic_visit_stmt_ann_assign(node);
        self.context.truncate(depth);
    }

    fn visit_expr_call(&mut self, node: ast::ExprCall) {
        self.call(&node);
        self.generic_visit_expr_call(node);
    }

    /// A keyword argument names its value: `token=random.random()`.
    fn visit_keyword(&mut self, node: ast::Keyword) {
        let depth = self.context.len();
        if let Some(arg) = &node.arg {
            self.context.push(arg.to_string());
        }
        self.generic_visit_keyword(node);
        self.context.truncate(depth);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<(usize, String)> {
        scan("t.py", text)
            .unwrap()
            .into_iter()
            .map(|f| (f.line, f.rule))
            .collect()
    }

    #[test]
    fn weak_crypto_is_found_with_imports_followed() {
        let text = r#"import hashlib, random, ssl
import requests as rq
from Crypto.Cipher import AES
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

digest = hashlib.md5(data).hexdigest()
etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
c = AES.new(key, AES.MODE_ECB)
iv = b"\x00" * 16
c2 = Cipher(algorithms.AES(k), modes.CBC(b"0123456789abcdef"))
SECRET_KEY = b"0123456789abcdef0123456789abcdef"
priv = rsa.generate_private_key(public_exponent=65537, key_size=1024)
ok = rsa.generate_private_key(public_exponent=65537, key_size=4096)
reset_token = "".join(random.choice(chars) for _ in range(20))
dice = random.randint(1, 6)
rq.get(url, verify=False)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

def make_password():
    return str(random.getrandbits(64))
"#;
        let found = rules(text);
        let expect = [
            (7, "weak-hash"),
            (9, "ecb-mode"),
            (10, "static-iv"),
            (11, "static-iv"),
            (12, "hardcoded-key"),
            (13, "weak-rsa"),
            (15, "insecure-random"),
            (17, "cert-verification-disabled"),
            (19, "cert-verification-disabled"),
            (20, "cert-verification-disabled"),
            (23, "insecure-random"),
        ];
        let got: Vec<(usize, &str)> = found.iter().map(|(l, r)| (*l, r.as_str())).collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn clean_code_has_no_findings() {
        let text = "import secrets, hashlib, os\nfrom cryptography.hazmat.primitives.ciphers.aead import AESGCM\nkey = AESGCM.generate_key(bit_length=256)\nnonce = os.urandom(12)\ntoken = secrets.token_urlsafe(32)\nh = hashlib.sha256(b'x').hexdigest()\n";
        assert!(rules(text).is_empty(), "{:?}", rules(text));
        assert!(scan("t.py", "def (:\n").is_err());
    }
}
