//! The CRD's rules that refuse, at admission, a size or billing mode the chosen cloud does not
//! have, and the description of `spec.size` that lists what each has. They are generated from each registered cloud's [`Profile`](super::Profile) — the tables and the words
//! the Stalled check of `plan` uses — so the two cannot drift. What depends on the gateway (a
//! billing change one way only, a downsize) is left to that check.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{CustomResourceDefinition, ValidationRule};

use super::Registry;
use crate::api::{BillingMode, Size};

/// Stands for the spec's value in a refusal's text while it is turned into a CEL expression.
const VALUE: &str = "\u{0}value\u{0}";

/// The rules for every profile of `registry`'s clouds, on the `spec` object: per profile, one for
/// sizes and one for billing modes, each only when the profile lacks some.
pub fn rules(registry: &Registry) -> Vec<ValidationRule> {
    let mut rules = Vec::new();
    for (condition, profile) in registry.admission() {
        let sizes: Vec<Size> = profile.offered_sizes().collect();
        if sizes.len() < Size::ALL.len() {
            rules.push(ValidationRule {
                rule: format!("!({condition}) || self.size in {}", cel_list(&sizes)),
                message_expression: Some(cel_text(&profile.size_refusal(VALUE), "self.size")),
                field_path: Some(".size".to_owned()),
                ..ValidationRule::default()
            });
        }
        if profile.billing_modes.len() < BillingMode::ALL.len() {
            rules.push(ValidationRule {
                rule: format!(
                    "!({condition}) || !has(self.billing) || self.billing.mode in {}",
                    cel_list(profile.billing_modes)
                ),
                message_expression: Some(cel_text(&profile.billing_refusal(VALUE), "self.billing.mode")),
                field_path: Some(".billing.mode".to_owned()),
                ..ValidationRule::default()
            });
        }
    }
    rules
}

/// `spec.size`'s description: the sizes of each of `registry`'s profiles.
fn size_description(registry: &Registry) -> String {
    let offers: Vec<String> = registry
        .admission()
        .into_iter()
        .map(|(_, profile)| {
            let sizes: Vec<String> = profile.offered_sizes().map(|s| s.to_string()).collect();
            let sizes = if sizes.len() == Size::ALL.len() { "all five".to_owned() } else { sizes.join(", ") };
            format!("{}: {sizes}", profile.label)
        })
        .collect();
    format!("Desired size. {}.", offers.join("; "))
}

/// Adds [`rules`] to the `spec` schema of every version of `crd`, and [`size_description`] to its
/// `size`.
pub fn add_rules(crd: &mut CustomResourceDefinition, registry: &Registry) {
    let rules = rules(registry);
    let size = size_description(registry);
    for version in &mut crd.spec.versions {
        let spec = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .and_then(|s| s.properties.as_mut())
            .and_then(|p| p.get_mut("spec"));
        if let Some(spec) = spec {
            spec.x_kubernetes_validations.get_or_insert_with(Vec::new).extend(rules.iter().cloned());
            if let Some(field) = spec.properties.as_mut().and_then(|p| p.get_mut("size")) {
                field.description = Some(size.clone());
            }
        }
    }
}

/// `['A', 'B']`.
fn cel_list<T: std::fmt::Display>(items: &[T]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| cel_string(&i.to_string())).collect();
    format!("[{}]", quoted.join(", "))
}

/// A CEL string expression that spells `text` with `expression`'s value wherever [`VALUE`] is.
fn cel_text(text: &str, expression: &str) -> String {
    let parts: Vec<String> = text.split(VALUE).map(cel_string).collect();
    parts.join(&format!(" + {expression} + "))
}

/// A CEL string literal.
fn cel_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{huawei, tencent};

    #[test]
    fn tencent_is_refused_what_it_lacks_and_huawei_nothing() {
        let rules = rules(&Registry::builtin());
        // Sizes and billing, for each of Tencent's two APIs; Huawei has every size and mode.
        assert_eq!(rules.len(), 4, "{rules:#?}");
        let v3 = rules.iter().filter(|r| r.rule.contains("api == 'V3'")).collect::<Vec<_>>();
        assert_eq!(
            v3[0].rule,
            "!(has(self.provider.tencent) && self.provider.tencent.api == 'V3') || self.size in ['Small', 'Medium', 'Large']"
        );
        assert_eq!(
            v3[0].message_expression.as_deref(),
            Some(
                "'Tencent Cloud NAT gateways have no size ' + self.size + '; set spec.size to one of Small, Medium, Large'"
            )
        );
        assert_eq!(
            v3[1].rule,
            "!(has(self.provider.tencent) && self.provider.tencent.api == 'V3') || !has(self.billing) || self.billing.mode in ['PayPerUse']"
        );
        assert_eq!(
            v3[1].message_expression.as_deref(),
            Some(
                "'Tencent Cloud has no API to change a NAT gateway\\'s billing mode to ' + self.billing.mode + '; remove spec.billing or set spec.billing.mode to PayPerUse'"
            )
        );
        assert!(rules.iter().all(|r| !r.rule.contains("huawei")));
    }

    /// The admission text is the Stalled text: the same function with the spec's value in it.
    #[test]
    fn messages_are_the_runtime_refusals() {
        for profile in [&tencent::V2, &tencent::V3, &huawei::PROFILE] {
            let expression = cel_text(&profile.size_refusal(VALUE), "self.size");
            let spelled = profile.size_refusal("ExtraLarge");
            assert_eq!(expression.replace("' + self.size + '", "ExtraLarge"), format!("'{spelled}'"));
        }
    }

    #[test]
    fn every_version_of_the_crd_gets_the_rules() {
        use kube::CustomResourceExt as _;
        let spec_rules = |crd: &CustomResourceDefinition| -> Vec<usize> {
            let spec = |v: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinitionVersion| {
                v.schema.as_ref()?.open_api_v3_schema.as_ref()?.properties.as_ref()?.get("spec")?.x_kubernetes_validations.as_ref().map(Vec::len)
            };
            crd.spec.versions.iter().map(|v| spec(v).unwrap_or(0)).collect()
        };
        let mut crd = crate::api::NatGateway::crd();
        let before = spec_rules(&crd);
        add_rules(&mut crd, &Registry::builtin());
        let after: Vec<usize> = before.iter().map(|n| n + 4).collect();
        assert_eq!(spec_rules(&crd), after);
    }

    #[test]
    fn the_size_description_lists_each_profile_s_sizes() {
        assert_eq!(
            size_description(&Registry::builtin()),
            "Desired size. tencent/V2: Small, Medium, Large; tencent/V3: Small, Medium, Large; huawei: all five."
        );
    }

    #[test]
    fn quotes_are_escaped() {
        assert_eq!(cel_string(r"it's a \ test"), r"'it\'s a \\ test'");
    }
}
