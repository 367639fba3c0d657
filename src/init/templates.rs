//! The files of a new project. Those the repository has (the pipeline, the data and its profile,
//! the Bicep, the CI definitions) are the repository's own files, embedded and renamed, so a
//! project starts from exactly what this repository tests; the others are in `templates/init/`.
//! Every edit of a repository file must find what it replaces: a changed file breaks the unit
//! test instead of silently producing a project that still says "diabetes".

use super::names::ProjectNames;

/// One file to write, relative to the project directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub contents: String,
}

const PIPELINE: &str = include_str!("../../pipelines/diabetes-train.yml");
const PARAMETERS: &str = include_str!("../../pipelines/parameters.json");
const DATA: &str = include_str!("../../data/diabetes.csv");
const PROFILE: &str = include_str!("../../data/diabetes.profile.json");
const BICEP: &str = include_str!("../../environment_setup/src/main.bicep");
const ARM: &str = include_str!("../../environment_setup/src/main.json");
const BICEP_PARAMETERS: &str = include_str!("../../environment_setup/src/parameters.json");
const GITHUB_TRAIN: &str = include_str!("../../.github/workflows/model-train-register.yml");
const GITHUB_INFRA: &str = include_str!("../../.github/workflows/infra.yml");
const AZURE_TRAIN: &str = include_str!("../../pipelines/azure-devops/model-train-register.yml");
const GITHUB_DEPLOY: &str = include_str!("../../.github/workflows/model-deploy.yml");
const AZURE_DEPLOY: &str = include_str!("../../pipelines/azure-devops/model-deploy.yml");
const AZURE_INFRA: &str = include_str!("../../environment_setup/pipelines/iac-create-environment-pipeline-arm.yml");

const MLOPS_TOML: &str = include_str!("../../templates/init/mlops.toml");
const README: &str = include_str!("../../templates/init/README.md");
const GITIGNORE: &str = include_str!("../../templates/init/gitignore");
const GITHUB_CI: &str = include_str!("../../templates/init/github-ci.yml");
const AZURE_CI: &str = include_str!("../../templates/init/azure-devops-ci.yml");

/// The repository builds `mlops` from its sources; a project installs it (from `MLOPS_SOURCE`).
const GITHUB_BUILD: &str = "      - name: Build mlops
        run: |
          cargo build --release --locked
          echo \"$PWD/target/release\" >> \"$GITHUB_PATH\"
";
const GITHUB_INSTALL: &str = "      - name: Install mlops
        run: cargo install --locked --root \"$HOME/.mlops\" --git \"${{ vars.MLOPS_SOURCE }}\" mlops && echo \"$HOME/.mlops/bin\" >> \"$GITHUB_PATH\"
";
// Without indentation: the step sits at different depths (a job's steps, a deployment job's strategy).
const AZURE_BUILD: &str = "- script: cargo build --release --locked && echo \"##vso[task.prependpath]$(Build.SourcesDirectory)/target/release\"";
const AZURE_INSTALL: &str = "- script: cargo install --locked --root \"$(Agent.ToolsDirectory)/mlops\" --git \"$(MLOPS_SOURCE)\" mlops && echo \"##vso[task.prependpath]$(Agent.ToolsDirectory)/mlops/bin\"";

/// A repository file's text that a rendering expected and did not find.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the embedded {file} no longer contains {expected:?}: the init templates must follow the repository's file")]
pub struct Drift {
    pub file: &'static str,
    pub expected: String,
}

/// Replaces every `from` in `text`, requiring at least one.
fn edit(file: &'static str, text: &str, from: &str, to: &str) -> Result<String, Drift> {
    if text.contains(from) { Ok(text.replace(from, to)) } else { Err(Drift { file, expected: from.to_string() }) }
}

/// The repository's diabetes names, most specific first, as the project's names.
fn rename(file: &'static str, text: &str, names: &ProjectNames) -> Result<String, Drift> {
    let text = text
        .replace("pipelines/diabetes-train.yml", &format!("pipelines/{}.yml", names.name))
        .replace("diabetes-train", &names.pipeline)
        .replace("diabetes-model", &names.model)
        .replace("mlops-diabetes", &format!("{}-scoring", names.name))
        .replace("diabetes_regression", &names.name)
        .replace("diabetes", &names.name);
    if text.contains("Diabetes") || text.contains("DIABETES") {
        return Err(Drift { file, expected: "no other spelling of diabetes".to_string() });
    }
    Ok(text)
}

/// Fills `{{name}}`, `{{model}}`, `{{pipeline}}`, `{{base_name}}` and `{{mlops_version}}`.
fn fill(template: &str, names: &ProjectNames) -> String {
    template
        .replace("{{name}}", &names.name)
        .replace("{{model}}", &names.model)
        .replace("{{pipeline}}", &names.pipeline)
        .replace("{{base_name}}", &names.base_name)
        .replace("{{mlops_version}}", env!("CARGO_PKG_VERSION"))
}

/// A repository CI definition for a project: renamed, installing `mlops` instead of building it,
/// and not triggered by a `src/` it does not have.
fn ci(file: &'static str, text: &str, names: &ProjectNames, github: bool) -> Result<String, Drift> {
    let text = if github {
        let text = edit(file, text, GITHUB_BUILD, GITHUB_INSTALL)?;
        edit(file, &text, ", \"src/**\"]", "]").or(Ok::<_, Drift>(text))?
    } else {
        let text = edit(file, text, AZURE_BUILD, AZURE_INSTALL)?;
        let text = edit(file, &text, "displayName: Build mlops", "displayName: Install mlops")?;
        edit(file, &text, ", src/*]", "]").or(Ok::<_, Drift>(text))?
    };
    // A comment about the repository's own sources does not hold for a project.
    let text =
        text.replace("The `mlops` binary is built from this repository.", "`mlops` is installed from MLOPS_SOURCE.");
    // The header documents every variable a definition reads (scripts/check-cicd.sh holds it to that).
    let text =
        format!("# MLOPS_SOURCE: the git URL of the mlops sources, which this definition installs mlops from.\n{text}");
    rename(file, &text, names)
}

/// Every file of a project named `names`.
pub fn render(names: &ProjectNames) -> Result<Vec<File>, Drift> {
    let n = &names.name;
    let file = |path: String, contents: String| File { path, contents };
    let bicep_parameters = edit(
        "environment_setup/src/parameters.json",
        BICEP_PARAMETERS,
        "\"value\": \"mlops\"",
        &format!("\"value\": \"{}\"", names.base_name),
    )?;
    let profile = edit(
        "data/diabetes.profile.json",
        PROFILE,
        "\"source\": \"data/diabetes.csv\"",
        &format!("\"source\": \"data/{n}.csv\""),
    )?;
    Ok(vec![
        file("mlops.toml".into(), fill(MLOPS_TOML, names)),
        file("README.md".into(), fill(README, names)),
        file(".gitignore".into(), fill(GITIGNORE, names)),
        file(format!("data/{n}.csv"), DATA.to_string()),
        file(format!("data/{n}.profile.json"), profile),
        file("pipelines/parameters.json".into(), PARAMETERS.to_string()),
        file(format!("pipelines/{n}.yml"), rename("pipelines/diabetes-train.yml", PIPELINE, names)?),
        file("environment_setup/src/main.bicep".into(), BICEP.to_string()),
        file("environment_setup/src/main.json".into(), ARM.to_string()),
        file("environment_setup/src/parameters.json".into(), bicep_parameters),
        file(
            "environment_setup/pipelines/iac-create-environment-pipeline-arm.yml".into(),
            ci("environment_setup/pipelines/iac-create-environment-pipeline-arm.yml", AZURE_INFRA, names, false)?,
        ),
        file(
            "pipelines/azure-devops/model-train-register.yml".into(),
            ci("pipelines/azure-devops/model-train-register.yml", AZURE_TRAIN, names, false)?,
        ),
        file("pipelines/azure-devops/ci.yml".into(), fill(AZURE_CI, names)),
        file(
            "pipelines/azure-devops/model-deploy.yml".into(),
            ci("pipelines/azure-devops/model-deploy.yml", AZURE_DEPLOY, names, false)?,
        ),
        file(
            ".github/workflows/model-train-register.yml".into(),
            ci(".github/workflows/model-train-register.yml", GITHUB_TRAIN, names, true)?,
        ),
        file(".github/workflows/infra.yml".into(), ci(".github/workflows/infra.yml", GITHUB_INFRA, names, true)?),
        file(".github/workflows/ci.yml".into(), fill(GITHUB_CI, names)),
        file(
            ".github/workflows/model-deploy.yml".into(),
            ci(".github/workflows/model-deploy.yml", GITHUB_DEPLOY, names, true)?,
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_repository_file_renders_and_is_renamed() {
        let names = ProjectNames::from_name("Credit Risk").expect("names");
        let files = render(&names).expect("the templates follow the repository's files");
        assert_eq!(files.len(), 18);
        for f in &files {
            // The sample data is the diabetes data, and the README says so.
            if f.path != "data/credit-risk.csv" && f.path != "README.md" {
                assert!(!f.contents.to_lowercase().contains("diabetes"), "{} still says diabetes", f.path);
            }
            for placeholder in ["{{name}}", "{{model}}", "{{pipeline}}", "{{base_name}}", "{{mlops_version}}"] {
                assert!(!f.contents.contains(placeholder), "{} has an unfilled {placeholder}", f.path);
            }
            assert!(!f.contents.contains("cargo build"), "{} builds mlops from sources it does not have", f.path);
            for stale in ["--target baked", "compiles mlops", "from this repository", ", src/*]", "\"src/**\""] {
                assert!(!f.contents.contains(stale), "{} mentions {stale}, which a project does not have", f.path);
            }
        }
        let pipeline = &files.iter().find(|f| f.path == "pipelines/credit-risk.yml").expect("pipeline").contents;
        assert!(pipeline.contains("name: credit-risk-train"));
        assert!(pipeline.contains("default: credit-risk-model"));
        assert!(pipeline.contains("default: data/credit-risk.csv"));
        let parameters = &files.iter().find(|f| f.path == "environment_setup/src/parameters.json").expect("p").contents;
        assert!(parameters.contains("\"value\": \"creditrisk\""));
    }

    #[test]
    fn a_changed_repository_file_is_a_drift_not_a_silent_miss() {
        let drift = edit("f", "no such step", GITHUB_BUILD, GITHUB_INSTALL).expect_err("drift");
        assert_eq!(drift.file, "f");
        assert!(ci("f", "steps: []", &ProjectNames::from_name("abc").expect("n"), true).is_err());
    }
}
