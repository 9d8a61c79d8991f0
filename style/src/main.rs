//! `sluice-style [--check] <out.css>`: writes the dashboard's stylesheet from
//! `app/src/**/*.rs` and `style/sluice.css` (run from the workspace root). With
//! `--check`, first fails if a literal class in the app has no rule anywhere: a typo
//! in a class name is otherwise a silent styling bug.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    let out = args.iter().find(|a| !a.starts_with("--")).ok_or("usage: sluice-style [--check] <out.css>")?;
    let mut files = Vec::new();
    rust_files(Path::new("app/src"), &mut files).map_err(|e| format!("reading app/src: {e}"))?;
    files.sort();
    let sources = files
        .iter()
        .map(|f| std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display())))
        .collect::<Result<Vec<_>, _>>()?;
    let components =
        std::fs::read_to_string("style/sluice.css").map_err(|e| format!("reading style/sluice.css: {e}"))?;
    if check {
        let mut unknown: Vec<String> = files
            .iter()
            .zip(&sources)
            .flat_map(|(f, s)| sluice_style::literal_classes(s).into_iter().map(move |c| (f, c)))
            .filter(|(_, c)| !sluice_style::is_component(c, &components) && !sluice_style::is_utility(c))
            .map(|(f, c)| format!("{}: {c}", f.display()))
            .collect();
        unknown.dedup();
        if !unknown.is_empty() {
            return Err(format!("classes with no rule in style/sluice.css or Tailwind:\n  {}", unknown.join("\n  ")));
        }
    }
    let css = sluice_style::stylesheet(sources.iter().map(String::as_str), &components);
    std::fs::write(out, css).map_err(|e| format!("writing {out}: {e}"))?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice-style: {e}");
            ExitCode::FAILURE
        }
    }
}
