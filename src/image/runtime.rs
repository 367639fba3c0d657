//! What the mlops binary needs to start in an empty root filesystem. A static binary needs
//! nothing. A dynamically linked one (the glibc build: only `x86_64-unknown-linux-gnu` is
//! installed where this was written, and musl's std cannot be fetched) needs its ELF interpreter
//! (`PT_INTERP`) and the shared libraries the loader resolves for it (`ld.so --list`, which is
//! what `ldd` runs), copied to the paths the loader found them at.
//!
//! glibc 2.34 and later carry the `files` and `dns` name services inside libc, so host names
//! resolve without the `libnss_*` modules that glibc loads at run time and `--list` cannot see.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use object::Object;
use object::read::elf::{ElfFile64, ProgramHeader};

use super::ImageError;

/// A file of the binary's runtime: where it goes in the image (no leading `/`) and where it is here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeFile {
    pub image_path: String,
    pub host_path: PathBuf,
}

/// The interpreter and shared libraries of `binary`; empty for a static binary. Fails unless
/// the binary is an x86-64 ELF executable (the one platform images are built for).
pub fn runtime_files(binary: &Path) -> Result<Vec<RuntimeFile>, ImageError> {
    let bad = |message: String| ImageError::Binary { path: binary.to_path_buf(), message };
    let data = std::fs::read(binary).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let elf = ElfFile64::<object::Endianness>::parse(&*data).map_err(|e| bad(format!("not a 64-bit ELF file: {e}")))?;
    if elf.architecture() != object::Architecture::X86_64 {
        return Err(bad(format!("built for {:?}, but images are linux/amd64", elf.architecture())));
    }
    let endian = elf.endian();
    let mut interpreter = None;
    for header in elf.elf_program_headers() {
        if let Some(path) = header.interpreter(endian, &*data).map_err(|e| bad(format!("bad PT_INTERP: {e}")))? {
            interpreter = Some(String::from_utf8_lossy(path).into_owned());
        }
    }
    let Some(interpreter) = interpreter else { return Ok(Vec::new()) };
    let output = Command::new(&interpreter)
        .arg("--list")
        .arg(binary)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| bad(format!("cannot run its interpreter {interpreter} --list: {e}")))?;
    if !output.status.success() {
        return Err(bad(format!(
            "{interpreter} --list failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let mut files = parse_list(&String::from_utf8_lossy(&output.stdout), &interpreter).map_err(bad)?;
    files.sort_by(|a, b| a.image_path.cmp(&b.image_path));
    files.dedup();
    Ok(files)
}

/// Reads `ld.so --list` lines: `libc.so.6 => /lib/…/libc.so.6 (0x…)`, the interpreter
/// `/lib64/ld-linux-x86-64.so.2 (0x…)`, and the kernel's `linux-vdso.so.1 (0x…)`, which has no file.
fn parse_list(text: &str, interpreter: &str) -> Result<Vec<RuntimeFile>, String> {
    let mut files = vec![RuntimeFile {
        image_path: interpreter.trim_start_matches('/').to_string(),
        host_path: PathBuf::from(interpreter),
    }];
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let path = match line.split_once("=>") {
            Some((name, target)) => {
                let target = target.trim();
                if target.starts_with("not found") {
                    return Err(format!("the loader cannot find its library {}", name.trim()));
                }
                target.split(" (").next().unwrap_or_default().trim()
            }
            None => line.split(" (").next().unwrap_or_default().trim(),
        };
        if path.starts_with('/') && path != interpreter {
            files.push(RuntimeFile {
                image_path: path.trim_start_matches('/').to_string(),
                host_path: PathBuf::from(path),
            });
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_loader_list() {
        let text = "\tlinux-vdso.so.1 (0x00007ffc)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        let files = parse_list(text, "/lib64/ld-linux-x86-64.so.2").expect("list");
        let paths: Vec<&str> = files.iter().map(|f| f.image_path.as_str()).collect();
        assert_eq!(
            paths,
            ["lib64/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/libgcc_s.so.1", "lib/x86_64-linux-gnu/libc.so.6"]
        );
        let missing = parse_list("\tlibfoo.so.1 => not found\n", "/lib64/ld-linux-x86-64.so.2");
        assert!(missing.is_err_and(|e| e.contains("libfoo.so.1")));
    }

    #[test]
    fn the_test_binary_has_a_runtime_that_exists() {
        // This test binary is linked like mlops (glibc, dynamic) on the machines that run it.
        let exe = std::env::current_exe().expect("current exe");
        let files = runtime_files(&exe).expect("runtime files");
        assert!(files.iter().any(|f| f.image_path.contains("libc.so")), "{files:?}");
        assert!(files.iter().all(|f| f.host_path.is_file()), "{files:?}");
    }
}
