//! What one registration line of [`super::spec`] yields for its cloud: the cloud's variant of
//! `spec.provider` and of `spec.workloadIdentity`, the CRD rules that make each name exactly one
//! cloud (the same one), and the cloud's name, which [`super::Registry::builtin`] pairs with its
//! client in an exhaustive `match`. A new cloud is its folder, that line and that arm; every
//! `match` on the cloud is exhaustive, so the compiler lists the rest.

/// Declares the clouds: `name => Variant(provider part, workload identity part)`, in the order
/// the registry tries them.
///
/// On the wire each enum is an object with one optional property per cloud (the YAML users
/// write, and a structural schema for the CRD); a CEL rule refuses zero or two at admission (a
/// null part counts as none, as `has()` reads it), and reading refuses them in the same words.
macro_rules! clouds {
    ($($name:ident => $variant:ident($provider:ty, $identity:ty)),+ $(,)?) => {
        /// `spec.provider`: the cloud that hosts the gateway and where in it.
        #[derive(serde::Serialize, Clone, Debug, PartialEq, Eq, Hash)]
        #[serde(rename_all = "lowercase")]
        pub enum ProviderSpec {
            $($variant($provider),)+
        }

        /// The cloud's part of `spec.workloadIdentity`, beside its ServiceAccount.
        #[derive(serde::Serialize, Clone, Debug, PartialEq, Eq, Hash)]
        #[serde(rename_all = "lowercase")]
        pub enum IdentitySpec {
            $($variant($identity),)+
        }

        /// The clouds as the resource names them (`provider.<name>`), in registration order.
        pub const CLOUDS: &[&str] = &[$(stringify!($name)),+];

        impl ProviderSpec {
            /// The cloud's name, as in [`CLOUDS`].
            pub fn cloud(&self) -> &'static str {
                match self {
                    $(ProviderSpec::$variant(_) => stringify!($name),)+
                }
            }

            /// The region the gateway is in.
            pub fn region(&self) -> &str {
                match self {
                    $(ProviderSpec::$variant(part) => &part.region,)+
                }
            }

            /// The cloud's check of the values its clients put into hosts, paths and headers.
            pub fn check(&self) -> Result<(), $crate::cloud::CloudError> {
                match self {
                    $(ProviderSpec::$variant(part) => part.check(),)+
                }
            }

            $(
                #[doc = concat!("`provider.", stringify!($name), "`, when the spec names that cloud.")]
                pub fn $name(&self) -> Option<&$provider> {
                    if let ProviderSpec::$variant(part) = self { Some(part) } else { None }
                }
            )+
        }

        impl IdentitySpec {
            /// The cloud's name, as in [`CLOUDS`].
            pub fn cloud(&self) -> &'static str {
                match self {
                    $(IdentitySpec::$variant(_) => stringify!($name),)+
                }
            }

            /// The fields that name the identity (its part's `NAMED_BY`).
            pub fn named_by(&self) -> &'static str {
                match self {
                    $(IdentitySpec::$variant(_) => <$identity>::NAMED_BY,)+
                }
            }

            /// What lets a ServiceAccount use the identity (its part's `TRUSTED_BY`).
            pub fn trusted_by(&self) -> &'static str {
                match self {
                    $(IdentitySpec::$variant(_) => <$identity>::TRUSTED_BY,)+
                }
            }

            /// The cloud's check of the values its exchange sends.
            pub fn check(&self) -> Result<(), $crate::cloud::CloudError> {
                match self {
                    $(IdentitySpec::$variant(part) => part.check(),)+
                }
            }

            $(
                #[doc = concat!("`workloadIdentity.", stringify!($name), "`, when the identity is of that cloud.")]
                pub fn $name(&self) -> Option<&$identity> {
                    if let IdentitySpec::$variant(part) = self { Some(part) } else { None }
                }
            )+
        }

        /// The wire form of [`ProviderSpec`].
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        struct ProviderFields {
            $(#[serde(default)] $name: Option<$provider>,)+
        }

        /// The wire form of [`IdentitySpec`].
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        struct IdentityFields {
            $(#[serde(default)] $name: Option<$identity>,)+
        }

        impl<'de> serde::Deserialize<'de> for ProviderSpec {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let fields = ProviderFields::deserialize(deserializer)?;
                $crate::cloud::clouds::exactly_one([$(fields.$name.map(ProviderSpec::$variant)),+])
                    .ok_or_else(|| serde::de::Error::custom($crate::cloud::clouds::one_provider(CLOUDS).1))
            }
        }

        impl<'de> serde::Deserialize<'de> for IdentitySpec {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let fields = IdentityFields::deserialize(deserializer)?;
                $crate::cloud::clouds::exactly_one([$(fields.$name.map(IdentitySpec::$variant)),+])
                    .ok_or_else(|| serde::de::Error::custom($crate::cloud::clouds::one_identity(CLOUDS).1))
            }
        }

        impl schemars::JsonSchema for ProviderSpec {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                "ProviderSpec".into()
            }

            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let mut schema = ProviderFields::json_schema(generator);
                schema.insert("description".into(), $crate::cloud::clouds::provider_description(CLOUDS).into());
                let (rule, message) = $crate::cloud::clouds::one_provider(CLOUDS);
                kube::core::validate(&mut schema, kube::core::Rule::new(rule).message(message.as_str()))
                    .expect("a rule serializes");
                schema
            }
        }

        // Flattened into `WorkloadIdentity`, which takes its properties and its rule.
        impl schemars::JsonSchema for IdentitySpec {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                "IdentitySpec".into()
            }

            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let mut schema = IdentityFields::json_schema(generator);
                let (rule, message) = $crate::cloud::clouds::one_identity(CLOUDS);
                kube::core::validate(&mut schema, kube::core::Rule::new(rule).message(message.as_str()))
                    .expect("a rule serializes");
                schema
            }
        }

        /// The declared clouds, for what must name each of them (the registry: an exhaustive
        /// `match` over them asks for every new one).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum CloudName {
            $($variant,)+
        }

        impl CloudName {
            pub const ALL: &[CloudName] = &[$(CloudName::$variant),+];
        }
    };
}

pub(crate) use clouds;

/// The one `Some` of `parts`; `None` for none or several.
pub fn exactly_one<T, const N: usize>(parts: [Option<T>; N]) -> Option<T> {
    let mut set = parts.into_iter().flatten();
    set.next().filter(|_| set.next().is_none())
}

/// `a`, `a or b`, `a, b or c`: one item per cloud.
fn per_cloud(clouds: &[&str], item: impl Fn(&str) -> String) -> String {
    let items: Vec<String> = clouds.iter().map(|c| item(c)).collect();
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => items.concat(),
    }
}

/// CEL: exactly one cloud's property of `self` is set.
fn one_of(clouds: &[&str]) -> String {
    match clouds {
        [a, b] => format!("has(self.{a}) != has(self.{b})"),
        _ => {
            let set: Vec<String> = clouds.iter().map(|c| format!("has(self.{c})")).collect();
            format!("[{}].filter(set, set).size() == 1", set.join(", "))
        }
    }
}

/// `spec.provider`'s rule and its message.
pub fn one_provider(clouds: &[&str]) -> (String, String) {
    let either = if clouds.len() == 2 { "either " } else { "one of " };
    let message = format!("set exactly one provider: {either}{}", per_cloud(clouds, |c| format!("provider.{c}")));
    (one_of(clouds), message)
}

/// `spec.workloadIdentity`'s rule and its message.
pub fn one_identity(clouds: &[&str]) -> (String, String) {
    let fields = per_cloud(clouds, |c| format!("workloadIdentity.{c}"));
    (one_of(clouds), format!("set exactly one of {fields}, the cloud of spec.provider"))
}

/// `spec.provider`'s description.
pub fn provider_description(clouds: &[&str]) -> String {
    format!("The cloud that hosts the gateway: exactly one of {}.", per_cloud(clouds, |c| format!("`{c}`")))
}

/// The `spec` rule that a workload identity is of the cloud of `spec.provider`.
pub fn identity_of_the_provider(clouds: &[&str]) -> kube::core::Rule {
    let same: Vec<String> =
        clouds.iter().map(|c| format!("has(self.workloadIdentity.{c}) == has(self.provider.{c})")).collect();
    let pairs: Vec<String> = clouds.iter().map(|c| format!("workloadIdentity.{c} with provider.{c}")).collect();
    kube::core::Rule::new(format!("!has(self.workloadIdentity) || ({})", same.join(" && ")))
        .message(format!("workloadIdentity must name the cloud of spec.provider: {}", pairs.join(", ")).as_str())
        .field_path(".workloadIdentity")
}

// The tests read the resource's types, which read this file: a file of their own.
#[cfg(test)]
mod tests;
