//! Custom-container deployments: the environment's image pulled from the stand-in's own
//! registry (`acr`), its layers unpacked into a root directory, its declared port and routes
//! checked against the image configuration, and its entrypoint run on the host with paths
//! moved under that root. The images `mlops image build` makes carry a static `mlops`, so the
//! entrypoint runs without a container runtime.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::State;

/// An image as pulled: its configuration and its layers, in order.
pub struct Image {
    pub reference: String,
    config: Value,
    layers: Vec<Vec<u8>>,
}

/// Pulls `<registry>/<repository>:<tag>` (or `@<digest>`) from the stand-in's registry.
pub fn pull(state: &State, reference: &str) -> Result<Image, String> {
    let (_, path) = reference.split_once('/').ok_or_else(|| format!("image {reference:?} names no registry"))?;
    let (repository, tag) = match path.split_once('@') {
        Some((r, d)) => (r, d),
        None => path.rsplit_once(':').unwrap_or((path, "latest")),
    };
    let manifest = state
        .acr
        .manifests
        .get(&(repository.to_string(), tag.to_string()))
        .ok_or_else(|| format!("manifest unknown: {repository}:{tag} is not in the registry"))?;
    let manifest: Value = serde_json::from_slice(manifest).map_err(|e| format!("manifest of {reference}: {e}"))?;
    let blob = |descriptor: &Value| -> Result<Vec<u8>, String> {
        let digest = descriptor["digest"].as_str().unwrap_or_default();
        state.acr.blob(digest).map(<[u8]>::to_vec).ok_or_else(|| format!("blob unknown: {digest}"))
    };
    let config: Value =
        serde_json::from_slice(&blob(&manifest["config"])?).map_err(|e| format!("config of {reference}: {e}"))?;
    let layers = manifest["layers"].as_array().into_iter().flatten().map(blob).collect::<Result<Vec<_>, _>>()?;
    Ok(Image { reference: reference.to_string(), config, layers })
}

impl Image {
    /// Unpacks the layers, gzip or plain tar, one over the other.
    pub fn unpack(&self, root: &Path) -> Result<(), String> {
        for (i, layer) in self.layers.iter().enumerate() {
            let reader: Box<dyn std::io::Read> = if layer.starts_with(&[0x1f, 0x8b]) {
                Box::new(flate2::read::GzDecoder::new(layer.as_slice()))
            } else {
                Box::new(layer.as_slice())
            };
            tar::Archive::new(reader).unpack(root).map_err(|e| format!("layer {i}: {e}"))?;
        }
        Ok(())
    }

    /// The port the image exposes (`ExposedPorts`, `<port>/tcp`).
    fn exposed_ports(&self) -> Vec<u16> {
        self.config["config"]["ExposedPorts"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys())
            .filter_map(|k| k.split('/').next()?.parse().ok())
            .collect()
    }

    /// The entrypoint and command, with `--host`/`--port` set to `port` on loopback and
    /// absolute paths that exist in the image moved under `root`; the environment's
    /// `inferenceConfig` routes must use the port the image exposes.
    pub fn command(&self, root: &Path, port: u16, inference: &Value) -> Result<Command, String> {
        let exposed = self.exposed_ports();
        for route in ["livenessRoute", "readinessRoute", "scoringRoute"] {
            if let Some(declared) = inference[route]["port"].as_u64()
                && !exposed.iter().any(|p| u64::from(*p) == declared)
            {
                return Err(format!(
                    "inferenceConfig.{route}.port {declared} is not a port the image {} exposes ({exposed:?})",
                    self.reference
                ));
            }
        }
        let config = &self.config["config"];
        let strings = |v: &Value| -> Vec<String> {
            v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
        };
        let mut argv = strings(&config["Entrypoint"]);
        argv.extend(strings(&config["Cmd"]));
        let moved = |value: &str| -> String {
            match value.strip_prefix('/') {
                Some(inside) if !inside.is_empty() && root.join(inside).exists() => {
                    root.join(inside).display().to_string()
                }
                _ => value.to_string(),
            }
        };
        let mut args = Vec::new();
        let mut rest = argv.iter();
        let program = rest.next().ok_or_else(|| format!("image {} has no entrypoint or command", self.reference))?;
        while let Some(arg) = rest.next() {
            match arg.as_str() {
                "--host" => {
                    rest.next();
                    args.extend(["--host".to_string(), "127.0.0.1".to_string()]);
                }
                "--port" => {
                    rest.next();
                    args.extend(["--port".to_string(), port.to_string()]);
                }
                other => args.push(moved(other)),
            }
        }
        let program = moved(program);
        if !Path::new(&program).exists() {
            return Err(format!("the entrypoint {program} is not in the image {}", self.reference));
        }
        let mut command = Command::new(program);
        command.args(args);
        for entry in strings(&config["Env"]) {
            if let Some((key, value)) = entry.split_once('=')
                && key != "PATH"
            {
                command.env(key, moved(value));
            }
        }
        Ok(command)
    }
}
