//! `cargo run -p drift-config --example check -- FILE [json|conf]`: the same check as `drift check`.
fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: check FILE [json|conf]");
        std::process::exit(2);
    };
    let dump = match args.next().as_deref() {
        Some("json") => Some(drift_config::DumpFormat::Json),
        Some("conf") => Some(drift_config::DumpFormat::Conf),
        _ => None,
    };
    std::process::exit(drift_config::check_command(
        std::path::Path::new(&path),
        dump,
    ));
}
