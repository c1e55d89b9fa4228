//! The built-in templates are embedded with `include_dir!`, which cannot tell cargo to watch them on
//! a stable compiler: rebuild the crate whenever a file under `templates/` changes.
fn main() {
    println!("cargo:rerun-if-changed=templates");
}
