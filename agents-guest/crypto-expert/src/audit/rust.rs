//! Rust, on `syn`'s tree: the RustCrypto and `md5`/`sha1` crates' weak hashes, ECB mode types,
//! RSA keys under 2048 bits, and TLS clients told to accept invalid certificates or host names.

use syn::spanned::Spanned;
use syn::visit::{self, Visit};

use super::{ECB_MODE, NO_CERT_CHECK, Report, Rule, WEAK_CIPHER, WEAK_HASH, WEAK_RSA};
use guest_support::Finding;

struct Rs<'a> {
    report: Report<'a>,
}

fn path_text(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

fn int(e: &syn::Expr) -> Option<u64> {
    match e {
        syn::Expr::Lit(l) => match &l.lit {
            syn::Lit::Int(i) => i.base10_parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

impl Rs<'_> {
    fn flag(&mut self, span: proc_macro2::Span, rule: &Rule, detail: &str) {
        let start = span.start();
        self.report.at(start.line, start.column + 1, rule, detail);
    }
}

pub fn scan(file: &str, text: &str) -> Result<Vec<Finding>, String> {
    let parsed = guest_support::parse::rust(text)?;
    let mut rs = Rs {
        report: Report::new(file, text),
    };
    rs.visit_file(&parsed);
    Ok(rs.report.out)
}

impl<'ast> Visit<'ast> for Rs<'_> {
    fn visit_expr_call(&mut self, it: &'ast syn::ExprCall) {
        if let syn::Expr::Path(p) = &*it.func {
            let name = path_text(&p.path);
            let weak = [
                "Md5::new",
                "Md5::digest",
                "Sha1::new",
                "Sha1::digest",
                "md5::compute",
                "Md4::new",
            ]
            .iter()
            .any(|w| name.ends_with(w));
            if weak {
                self.flag(it.span(), &WEAK_HASH, &name);
            }
            if name.ends_with("RsaPrivateKey::new") || name.ends_with("Rsa::generate") {
                let bits = it.args.iter().rev().find_map(int);
                if let Some(bits) = bits.filter(|b| *b < 2048) {
                    self.flag(it.span(), &WEAK_RSA, &format!("{name} with {bits} bits"));
                }
            }
            if name.ends_with("Cipher::des_ecb")
                || name.ends_with("Cipher::aes_128_ecb")
                || name.ends_with("Cipher::aes_256_ecb")
            {
                self.flag(it.span(), &ECB_MODE, &name);
            }
            if name.ends_with("Cipher::rc4")
                || name.ends_with("Cipher::des_cbc")
                || name.ends_with("Cipher::des_ede3_cbc")
                || name.ends_with("Cipher::bf_cbc")
            {
                self.flag(it.span(), &WEAK_CIPHER, &name);
            }
        }
        visit::visit_expr_call(self, it);
    }

    fn visit_expr_method_call(&mut self, it: &'ast syn::ExprMethodCall) {
        let method = it.method.to_string();
        let on = it.args.first().is_some_and(
            |a| matches!(a, syn::Expr::Lit(l) if matches!(&l.lit, syn::Lit::Bool(b) if b.value)),
        );
        if matches!(
            method.as_str(),
            "danger_accept_invalid_certs" | "danger_accept_invalid_hostnames"
        ) && on
        {
            self.flag(it.method.span(), &NO_CERT_CHECK, &method);
        }
        if method == "set_verify"
            && it
                .args
                .iter()
                .any(|a| quote_path(a).ends_with("SslVerifyMode::NONE"))
        {
            self.flag(
                it.method.span(),
                &NO_CERT_CHECK,
                "set_verify(SslVerifyMode::NONE)",
            );
        }
        visit::visit_expr_method_call(self, it);
    }

    fn visit_type_path(&mut self, it: &'ast syn::TypePath) {
        let name = path_text(&it.path);
        if name.ends_with("ecb::Encryptor")
            || name.ends_with("ecb::Decryptor")
            || name == "Ecb"
            || name.ends_with("::Ecb")
        {
            self.flag(it.span(), &ECB_MODE, &name);
        }
        if ["Des", "TdesEde3", "Rc4", "Blowfish"]
            .iter()
            .any(|w| name == *w || name.ends_with(&format!("::{w}")))
        {
            self.flag(it.span(), &WEAK_CIPHER, &name);
        }
        visit::visit_type_path(self, it);
    }
}

fn quote_path(e: &syn::Expr) -> String {
    match e {
        syn::Expr::Path(p) => path_text(&p.path),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_weak_crypto() {
        let text = "fn f() {\n    let d = md5::compute(b\"x\");\n    let h = sha2::Sha256::new();\n    let k = RsaPrivateKey::new(&mut rng, 1024);\n    let c = reqwest::Client::builder().danger_accept_invalid_certs(true).build();\n    type E = ecb::Encryptor<aes::Aes128>;\n}\n";
        let got: Vec<(usize, String)> = scan("t.rs", text)
            .unwrap()
            .into_iter()
            .map(|f| (f.line, f.rule))
            .collect();
        let got: Vec<(usize, &str)> = got.iter().map(|(l, r)| (*l, r.as_str())).collect();
        assert_eq!(
            got,
            [
                (2, "weak-hash"),
                (4, "weak-rsa"),
                (5, "cert-verification-disabled"),
                (6, "ecb-mode")
            ]
        );
    }
}
