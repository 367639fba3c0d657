//! Records the target triple, which runs carry as lineage (`mlops.build.target`).

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_string());
    println!("cargo:rustc-env=MLOPS_BUILD_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
