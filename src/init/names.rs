//! The names of a new project: the project name as typed, made into a slug every tool accepts,
//! and the base name of its Azure resources within their length and character rules.

use serde::Serialize;

use super::InitError;

/// Longest project slug. The slug prefixes MLflow experiments, registered models, Azure ML
/// pipelines and datasets; 50 leaves room for the suffixes (`-model`, `-train`) under every limit.
pub const MAX_SLUG: usize = 50;
/// The Bicep template's `baseName`: 3 to 10 lower-case letters or digits, because it is part of the
/// storage account name (`st` + base + 6-character suffix, at most 24 lower-case letters and digits)
/// and of the container registry name (letters and digits only).
pub const BASE_NAME: std::ops::RangeInclusive<usize> = 3..=10;

/// Every name the generated files use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectNames {
    /// The slug: lower-case letters, digits and single '-', starting with a letter. Names the
    /// pipeline file, the dataset, the data files and the experiment.
    pub name: String,
    /// The registered model.
    pub model: String,
    /// The pipeline (and the Azure ML experiment it runs in).
    pub pipeline: String,
    /// The Azure resources' base name (Bicep `baseName`).
    pub base_name: String,
}

impl ProjectNames {
    /// Makes `text` valid where it can (lower case, any run of other characters becomes one '-'),
    /// and refuses it, naming the rule, where it cannot.
    pub fn from_name(text: &str) -> Result<Self, InitError> {
        let refuse = |rule: String| InitError::Name { name: text.to_string(), rule };
        let mut slug = String::new();
        for c in text.trim().chars() {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                slug.push(c);
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let slug = slug.trim_end_matches('-').to_string();
        if !slug.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(refuse(
                "a project name must start with a letter (a-z): Azure ML pipeline and MLflow experiment names are built from it"
                    .to_string(),
            ));
        }
        if slug.len() > MAX_SLUG {
            return Err(refuse(format!(
                "a project name is at most {MAX_SLUG} letters, digits and '-' (this one is {} as {slug:?})",
                slug.len()
            )));
        }
        let base_name: String = slug.chars().filter(char::is_ascii_alphanumeric).take(*BASE_NAME.end()).collect();
        if base_name.len() < *BASE_NAME.start() {
            return Err(refuse(format!(
                "a project name needs at least {} letters or digits: Azure resource names are built from a base name of {} to {} lower-case letters and digits (storage account and container registry names allow nothing else)",
                BASE_NAME.start(),
                BASE_NAME.start(),
                BASE_NAME.end()
            )));
        }
        Ok(ProjectNames { model: format!("{slug}-model"), pipeline: format!("{slug}-train"), name: slug, base_name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> ProjectNames {
        ProjectNames::from_name(text).expect("valid")
    }

    #[test]
    fn makes_names_valid_where_it_can() {
        let n = names("Credit Risk_Scoring v2");
        assert_eq!(n.name, "credit-risk-scoring-v2");
        assert_eq!(n.model, "credit-risk-scoring-v2-model");
        assert_eq!(n.pipeline, "credit-risk-scoring-v2-train");
        assert_eq!(n.base_name, "creditrisk", "letters and digits only, at most 10");
        assert_eq!(names("churn").base_name, "churn");
        assert_eq!(names("  a--b..c  ").name, "a-b-c");
        assert_eq!(names("a--b..c").base_name, "abc");
    }

    #[test]
    fn refuses_what_cannot_be_made_valid_naming_the_rule() {
        let rule = |text: &str| match ProjectNames::from_name(text) {
            Err(InitError::Name { rule, .. }) => rule,
            other => panic!("{text:?} accepted: {other:?}"),
        };
        assert!(rule("ab").contains("at least 3 letters or digits"));
        assert!(rule("a-b").contains("storage account"));
        assert!(rule("2fast").contains("start with a letter"));
        assert!(rule("---").contains("start with a letter"));
        assert!(rule("日本語").contains("start with a letter"));
        assert!(rule(&"x".repeat(51)).contains("at most 50"));
        assert_eq!(names(&"x".repeat(50)).base_name, "xxxxxxxxxx");
    }
}
