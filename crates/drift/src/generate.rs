//! Man pages and shell completions generated from the clap CLI, for the Debian package
//! (`drift gen-man DIR`, hidden) and for users (`drift completions SHELL`): generated, so they
//! always describe the options the binary really has.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Command;
use clap_complete::Shell;

/// `drift.1` plus `drift-<sub>.1` for every visible subcommand, written into `dir`.
pub fn man_pages(cmd: Command, dir: &Path) -> ExitCode {
    match write_man_pages(cmd, dir) {
        Ok(names) => {
            for n in names {
                println!("{}", dir.join(n).display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("drift gen-man: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn write_man_pages(cmd: Command, dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, page) in pages(cmd)? {
        let path = dir.join(&name);
        std::fs::write(&path, page).with_context(|| format!("write {}", path.display()))?;
        written.push(name);
    }
    Ok(written)
}

/// (file name, roff text) of every page.
fn pages(cmd: Command) -> Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = cmd;
    cmd.build();
    let mut out = vec![("drift.1".to_string(), render(cmd.clone())?)];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("drift-{}", sub.get_name());
        if sub.get_name() == "help" {
            continue;
        }
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(name.replace('-', " "));
        out.push((format!("{name}.1"), render(page)?));
    }
    Ok(out)
}

fn render(cmd: Command) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .context("render a man page")?;
    Ok(buf)
}

/// The completion script for `shell` on stdout.
pub fn completions(mut cmd: Command, shell: Shell) -> ExitCode {
    clap_complete::generate(shell, &mut cmd, "drift", &mut std::io::stdout());
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_is_a_page_per_visible_command_and_none_for_hidden_ones() {
        let pages = pages(crate::cli::command()).expect("pages render");
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        for want in ["drift.1", "drift-run.1", "drift-check.1", "drift-demo.1"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(!names
            .iter()
            .any(|n| n.contains("gen-man") || n.contains("help")));
        let run = &pages
            .iter()
            .find(|(n, _)| n == "drift-run.1")
            .expect("run page")
            .1;
        let text = String::from_utf8_lossy(run);
        assert!(
            text.contains(".TH drift-run") && text.contains("use\\-file"),
            "{text}"
        );
    }

    #[test]
    fn bash_completion_knows_the_subcommands() {
        let mut buf = Vec::new();
        clap_complete::generate(Shell::Bash, &mut crate::cli::command(), "drift", &mut buf);
        let text = String::from_utf8_lossy(&buf);
        assert!(text.contains("complete") && text.contains("demo") && text.contains("run"));
    }
}
