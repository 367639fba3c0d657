//! Template assembly for languageVersion 2.0: `resources` as an object keyed by symbolic name,
//! with `existing` resources written out (`TemplateWriter.EmitResources` with symbolic names).

use serde_json::{Map, Value};

use crate::infra::bicep::arm::Arm;
use crate::infra::bicep::ast::prop;
use crate::infra::bicep::convert::Compiler;
use crate::infra::bicep::convert::resources::{Placement, Target};
use crate::infra::bicep::deps::Dep;
use crate::infra::bicep::error::{DResult, Diag};
use crate::infra::bicep::model::TargetScope;

impl Compiler<'_> {
    /// Resources in the order of the classic array (existing ones included), then modules.
    pub(super) fn symbolic_resources(
        &self,
        order: &[usize],
        graph: &[(Target, Vec<Dep>)],
    ) -> DResult<Map<String, Value>> {
        let mut out = Map::new();
        for &r in order {
            out.insert(self.copy_name(Target::Res(r)), self.resource(r, &graph[r].1)?);
        }
        for (target, deps) in graph {
            if let Target::Module(m) = *target {
                out.insert(self.model.modules[m].decl.name.clone(), self.module(m, deps)?);
            }
        }
        Ok(out)
    }

    /// Where an existing resource lives, as `subscriptionId` / `resourceGroup` / `scope`
    /// (`ExpressionBuilder.EmitResourceOrModuleScopeProperties`).
    pub(super) fn existing_scope(&self, r: usize, out: &mut Map<String, Value>) -> DResult<()> {
        let res = &self.model.resources[r];
        let placement = self.res_placement(r, None)?;
        let refuse = || {
            let span = prop(res.body, "scope").map_or(res.decl.name_span, |p| p.value.span);
            Err(Diag::unsupported(span, "an existing resource at this scope"))
        };
        // A child inherits its root's scope data (`ScopeHelper.GetResourceScopeInfo`), so an existing
        // child of a resource in another resource group or subscription says where it is too.
        if res.parent.is_some() && matches!(placement, Placement::Extension(_)) {
            return refuse();
        }
        match placement {
            Placement::Default => {}
            Placement::Extension(id) => {
                out.insert("scope".into(), id.to_json());
            }
            Placement::ResourceGroup(args) => match args.as_slice() {
                [] => {}
                [rg] => {
                    out.insert("resourceGroup".into(), rg.to_json());
                }
                [sub, rg] => {
                    out.insert("subscriptionId".into(), sub.to_json());
                    out.insert("resourceGroup".into(), rg.to_json());
                }
                _ => return refuse(),
            },
            Placement::Subscription(args) => match args.as_slice() {
                [sub] => {
                    out.insert("subscriptionId".into(), sub.to_json());
                }
                [] if self.model.scope == TargetScope::ResourceGroup => {
                    let id = Arm::call("subscription", vec![]).prop("subscriptionId");
                    out.insert("subscriptionId".into(), id.to_json());
                }
                _ => {}
            },
            Placement::Tenant => {
                if self.model.scope != TargetScope::Tenant {
                    out.insert("scope".into(), Value::from("/"));
                }
            }
            Placement::ManagementGroup(_) => return refuse(),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::infra::bicep::compile_str;

    #[test]
    fn an_existing_child_in_another_resource_group_names_its_scope() {
        let text = "type t = string\n\
            resource ns 'Microsoft.EventHub/namespaces@2024-01-01' existing = {\n  name: 'ns'\n  scope: resourceGroup('s', 'g')\n  \
              resource hub 'eventhubs@2024-01-01' existing = {\n    name: 'h'\n  }\n}\n\
            output id string = ns::hub.id\n";
        let t = compile_str(Path::new("main.bicep"), text).expect("compiles");
        let hub = &t["resources"]["ns::hub"];
        let keys: Vec<&str> = hub.as_object().expect("resource").keys().map(String::as_str).collect();
        assert_eq!(keys, ["existing", "type", "apiVersion", "subscriptionId", "resourceGroup", "name"]);
        assert_eq!(hub["subscriptionId"], "s");
        assert_eq!(hub["resourceGroup"], "g");
        assert_eq!(hub["name"], "[format('{0}/{1}', 'ns', 'h')]");
    }
}
