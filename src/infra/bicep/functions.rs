//! The built-in functions of Bicep's `sys` and `az` namespaces that compile straight to ARM.

/// How a built-in compiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// Passed to ARM unchanged; reads nothing at run time.
    Plain,
    /// Passed unchanged, but reads runtime state (`reference`, `list*`): variables using it are inlined.
    Runtime,
    /// `any(x)`: erased.
    Any,
    /// `loadTextContent(path)` and friends: read at compile time.
    Load,
    /// Needs lambdas or other machinery outside the subset.
    Unsupported,
}

/// (name, min args, max args, kind); `usize::MAX` for variadic.
const TABLE: &[(&str, usize, usize, Builtin)] = &[
    ("any", 1, 1, Builtin::Any),
    ("array", 1, 1, Builtin::Plain),
    ("base64", 1, 1, Builtin::Plain),
    ("base64ToJson", 1, 1, Builtin::Plain),
    ("base64ToString", 1, 1, Builtin::Plain),
    ("bool", 1, 1, Builtin::Plain),
    ("buildUri", 1, 1, Builtin::Plain),
    ("cidrHost", 2, 2, Builtin::Plain),
    ("cidrSubnet", 3, 3, Builtin::Plain),
    ("coalesce", 1, usize::MAX, Builtin::Plain),
    ("concat", 1, usize::MAX, Builtin::Plain),
    ("contains", 2, 2, Builtin::Plain),
    ("dataUri", 1, 1, Builtin::Plain),
    ("dataUriToString", 1, 1, Builtin::Plain),
    ("dateTimeAdd", 2, 3, Builtin::Plain),
    ("dateTimeFromEpoch", 1, 1, Builtin::Plain),
    ("dateTimeToEpoch", 1, 1, Builtin::Plain),
    ("distinct", 1, 1, Builtin::Plain),
    ("deployer", 0, 0, Builtin::Plain),
    ("deployment", 0, 0, Builtin::Plain),
    ("empty", 1, 1, Builtin::Plain),
    ("endsWith", 2, 2, Builtin::Plain),
    ("environment", 0, 0, Builtin::Plain),
    ("extensionResourceId", 3, usize::MAX, Builtin::Plain),
    ("first", 1, 1, Builtin::Plain),
    ("flatten", 1, 1, Builtin::Plain),
    ("format", 1, usize::MAX, Builtin::Plain),
    ("guid", 1, usize::MAX, Builtin::Plain),
    ("indexOf", 2, 2, Builtin::Plain),
    ("int", 1, 1, Builtin::Plain),
    ("intersection", 2, usize::MAX, Builtin::Plain),
    ("items", 1, 1, Builtin::Plain),
    ("join", 2, 2, Builtin::Plain),
    ("json", 1, 1, Builtin::Plain),
    ("last", 1, 1, Builtin::Plain),
    ("lastIndexOf", 2, 2, Builtin::Plain),
    ("length", 1, 1, Builtin::Plain),
    ("like", 2, 2, Builtin::Plain),
    ("loadFileAsBase64", 1, 1, Builtin::Load),
    ("loadJsonContent", 1, 3, Builtin::Load),
    ("loadTextContent", 1, 2, Builtin::Load),
    ("loadYamlContent", 1, 3, Builtin::Load),
    ("loadDirectoryFileInfo", 1, 2, Builtin::Load),
    ("managementGroup", 0, 1, Builtin::Plain),
    ("managementGroupResourceId", 2, usize::MAX, Builtin::Plain),
    ("max", 1, usize::MAX, Builtin::Plain),
    ("min", 1, usize::MAX, Builtin::Plain),
    ("newGuid", 0, 0, Builtin::Plain),
    ("objectKeys", 1, 1, Builtin::Plain),
    ("padLeft", 2, 3, Builtin::Plain),
    ("parseCidr", 1, 1, Builtin::Plain),
    ("pickZones", 3, 5, Builtin::Plain),
    ("providers", 1, 2, Builtin::Plain),
    ("range", 2, 2, Builtin::Plain),
    ("reference", 1, 3, Builtin::Runtime),
    ("replace", 3, 3, Builtin::Plain),
    ("resourceGroup", 0, 2, Builtin::Plain),
    ("resourceId", 2, usize::MAX, Builtin::Plain),
    ("shallowMerge", 1, 1, Builtin::Plain),
    ("skip", 2, 2, Builtin::Plain),
    ("split", 2, 2, Builtin::Plain),
    ("startsWith", 2, 2, Builtin::Plain),
    ("string", 1, 1, Builtin::Plain),
    ("subscription", 0, 1, Builtin::Plain),
    ("subscriptionResourceId", 2, usize::MAX, Builtin::Plain),
    ("substring", 2, 3, Builtin::Plain),
    ("take", 2, 2, Builtin::Plain),
    ("tenant", 0, 0, Builtin::Plain),
    ("tenantResourceId", 2, usize::MAX, Builtin::Plain),
    ("toLower", 1, 1, Builtin::Plain),
    ("toUpper", 1, 1, Builtin::Plain),
    ("trim", 1, 1, Builtin::Plain),
    ("tryGet", 2, usize::MAX, Builtin::Plain),
    ("union", 1, usize::MAX, Builtin::Plain),
    ("uniqueString", 1, usize::MAX, Builtin::Plain),
    ("uri", 2, 2, Builtin::Plain),
    ("uriComponent", 1, 1, Builtin::Plain),
    ("uriComponentToString", 1, 1, Builtin::Plain),
    ("utcNow", 0, 1, Builtin::Plain),
    // ARM raises the error when it evaluates the call, so it passes through like any other.
    ("fail", 1, 1, Builtin::Plain),
    ("filter", 2, 2, Builtin::Plain),
    ("map", 2, 2, Builtin::Plain),
    ("mapValues", 2, 2, Builtin::Plain),
    ("reduce", 3, 3, Builtin::Plain),
    ("sort", 2, 2, Builtin::Plain),
    ("toObject", 2, 3, Builtin::Plain),
    ("groupBy", 2, 2, Builtin::Plain),
    // A built-in role's definition (`{id, roleDefinitionId}`), an ARM function of its own.
    ("roleDefinitions", 1, 1, Builtin::Runtime),
    ("parseUri", 1, 1, Builtin::Plain),
    // Zone mappings of a subscription, read at deployment time (`FunctionFlags.RequiresInlining`).
    ("toLogicalZone", 3, 3, Builtin::Runtime),
    ("toLogicalZones", 3, 3, Builtin::Runtime),
    ("toPhysicalZone", 3, 3, Builtin::Runtime),
    ("toPhysicalZones", 3, 3, Builtin::Runtime),
    ("getSecret", 1, 2, Builtin::Unsupported),
    ("externalInput", 1, 2, Builtin::Unsupported),
    ("readEnvironmentVariable", 1, 2, Builtin::Unsupported),
    ("nameof", 1, 1, Builtin::Unsupported),
];

/// Looks up a built-in by its exact (case-sensitive) name: kind and allowed argument counts.
pub fn lookup(name: &str) -> Option<(Builtin, usize, usize)> {
    // `list` and `list*` (`listKeys`, `listSecrets`, …): every name Bicep's `list` prefix matches.
    if name.strip_prefix("list").is_some_and(|rest| rest.chars().all(|c| c.is_ascii_alphabetic())) {
        return Some((Builtin::Runtime, 0, usize::MAX));
    }
    TABLE.iter().find(|(n, ..)| *n == name).map(|&(_, min, max, kind)| (kind, min, max))
}

/// A built-in whose name differs from `name` only in case, for a "did you mean" hint.
pub fn suggest(name: &str) -> Option<&'static str> {
    TABLE.iter().find(|(n, ..)| n.eq_ignore_ascii_case(name)).map(|(n, ..)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_sensitive_with_hint() {
        assert_eq!(lookup("toLower").map(|l| l.0), Some(Builtin::Plain));
        assert!(lookup("tolower").is_none());
        assert_eq!(suggest("tolower"), Some("toLower"));
        assert_eq!(lookup("listKeys").map(|l| l.0), Some(Builtin::Runtime));
        assert_eq!(lookup("map").map(|l| l.0), Some(Builtin::Plain));
        assert_eq!(lookup("getSecret").map(|l| l.0), Some(Builtin::Unsupported));
        // ARM raises the error when it evaluates the call; bicep build passes it on.
        assert_eq!(lookup("fail"), Some((Builtin::Plain, 1, 1)));
    }
}
