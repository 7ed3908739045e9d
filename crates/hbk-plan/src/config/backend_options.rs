//! A repository's backend options in a plan: restic's `-o key=value`
//! set, written as a list of `"key=value"` strings or as a table
//! (`s3.connections = 8` in TOML is a nested table; keys are joined with
//! `.` again).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Backend options as `key=value` pairs, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendOptions(pub Vec<String>);

impl Serialize for BackendOptions {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for BackendOptions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<String>),
            Table(toml::Table),
        }
        match Raw::deserialize(d)? {
            Raw::List(pairs) => Ok(BackendOptions(pairs)),
            Raw::Table(t) => {
                let mut pairs = Vec::new();
                flatten("", &t, &mut pairs).map_err(serde::de::Error::custom)?;
                Ok(BackendOptions(pairs))
            }
        }
    }
}

/// Appends `prefix.key=value` for every scalar in `t`, descending into
/// nested tables.
fn flatten(prefix: &str, t: &toml::Table, out: &mut Vec<String>) -> Result<(), String> {
    for (k, v) in t {
        let key = match prefix {
            "" => k.clone(),
            p => format!("{p}.{k}"),
        };
        let value = match v {
            toml::Value::Table(inner) => {
                flatten(&key, inner, out)?;
                continue;
            }
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Datetime(_) | toml::Value::Array(_) => {
                return Err(format!(
                    "option {key}: expected a string, number or boolean"
                ))
            }
        };
        out.push(format!("{key}={value}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        options: BackendOptions,
    }

    fn parse(text: &str) -> Result<Vec<String>, toml::de::Error> {
        toml::from_str::<Holder>(text).map(|h| h.options.0)
    }

    #[test]
    fn lists_and_tables() {
        assert_eq!(
            parse("options = [\"s3.region=eu-west-1\"]").unwrap(),
            ["s3.region=eu-west-1"]
        );
        let mut t = parse("[options]\ns3.connections = 8\n\"s3.region\" = \"eu\"\n").unwrap();
        t.sort();
        assert_eq!(t, ["s3.connections=8", "s3.region=eu"]);
        assert!(parse("options = { s3 = { region = [1] } }").is_err());
    }
}
