//! Plugin settings: a typed schema in the manifest, from which the host generates the admin form and
//! validates what the admin enters.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The kinds of setting.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SettingType {
    /// One line of text.
    String,
    /// Several lines of text.
    Text,
    /// A whole number, within `min`..=`max` when given.
    Integer,
    /// A number, within `min`..=`max` when given.
    Number,
    /// On or off.
    Boolean,
    /// One of `options`.
    Select,
    /// A list of short texts (one per line in the form).
    List,
}

/// One setting.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SettingField {
    /// Key in the settings JSON object.
    pub key: String,
    /// Label in the admin form.
    pub label: String,
    /// Kind.
    #[serde(rename = "type")]
    pub kind: SettingType,
    /// Value when the admin sets none.
    #[serde(default)]
    pub default: Option<Value>,
    /// Must have a value (a default counts).
    #[serde(default)]
    pub required: bool,
    /// Smallest number allowed.
    #[serde(default)]
    pub min: Option<f64>,
    /// Largest number allowed.
    #[serde(default)]
    pub max: Option<f64>,
    /// Choices of a `select`.
    #[serde(default)]
    pub options: Vec<String>,
    /// Help text under the field.
    #[serde(default)]
    pub help: String,
}

impl SettingField {
    /// Problems with the field's own declaration, as `(field, reason)`.
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if !crate::manifest::is_ident(&self.key) {
            p.push(("key", "use lowercase letters, digits and underscores, starting with a letter".to_string()));
        }
        if self.label.trim().is_empty() {
            p.push(("label", "give a label".to_string()));
        }
        if let (Some(min), Some(max)) = (self.min, self.max)
            && min > max
        {
            p.push(("max", format!("is below min ({min})")));
        }
        if (self.min.is_some() || self.max.is_some())
            && !matches!(self.kind, SettingType::Integer | SettingType::Number)
        {
            p.push(("min", "only numbers have bounds".to_string()));
        }
        if self.kind == SettingType::Select && self.options.is_empty() {
            p.push(("options", "a select needs options".to_string()));
        }
        if let Some(d) = &self.default
            && let Err(reason) = self.check(d)
        {
            p.push(("default", reason));
        }
        p
    }

    /// Checks a JSON value for this field; the error says what is wrong.
    pub fn check(&self, v: &Value) -> Result<(), String> {
        let in_bounds = |n: f64| -> Result<(), String> {
            if let Some(min) = self.min
                && n < min
            {
                return Err(format!("must be at least {min}"));
            }
            if let Some(max) = self.max
                && n > max
            {
                return Err(format!("must be at most {max}"));
            }
            Ok(())
        };
        match (self.kind, v) {
            (SettingType::String | SettingType::Text, Value::String(s)) if s.chars().count() <= 10_000 => Ok(()),
            (SettingType::Integer, Value::Number(n)) if n.is_i64() => in_bounds(n.as_f64().unwrap_or_default()),
            (SettingType::Number, Value::Number(n)) => in_bounds(n.as_f64().unwrap_or_default()),
            (SettingType::Boolean, Value::Bool(_)) => Ok(()),
            (SettingType::Select, Value::String(s)) if self.options.contains(s) => Ok(()),
            (SettingType::Select, _) => Err(format!("must be one of {}", self.options.join(", "))),
            (SettingType::List, Value::Array(items)) if items.iter().all(Value::is_string) && items.len() <= 1000 => {
                Ok(())
            }
            (SettingType::Integer, _) => Err("must be a whole number".into()),
            (SettingType::Number, _) => Err("must be a number".into()),
            (SettingType::Boolean, _) => Err("must be true or false".into()),
            (SettingType::List, _) => Err("must be a list of texts".into()),
            _ => Err("must be a text of at most 10,000 characters".into()),
        }
    }

    /// Turns what an HTML form sent (`None` for an unchecked box or an absent field) into a value.
    pub fn from_form(&self, raw: Option<&str>) -> Result<Option<Value>, String> {
        let raw = raw.map(str::trim);
        let v = match (self.kind, raw) {
            (SettingType::Boolean, r) => Some(Value::Bool(matches!(r, Some("on" | "true" | "1")))),
            (_, None | Some("")) => None,
            (SettingType::Integer, Some(r)) => {
                Some(Value::from(r.parse::<i64>().map_err(|_| "must be a whole number".to_string())?))
            }
            (SettingType::Number, Some(r)) => {
                let n = r.parse::<f64>().map_err(|_| "must be a number".to_string())?;
                Some(serde_json::Number::from_f64(n).map(Value::Number).ok_or("must be a finite number")?)
            }
            (SettingType::List, Some(r)) => Some(Value::Array(
                r.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| Value::String(l.into())).collect(),
            )),
            (_, Some(r)) => Some(Value::String(r.to_string())),
        };
        if let Some(v) = &v {
            self.check(v)?;
        }
        Ok(v)
    }
}

/// Validates stored or submitted settings against a schema and fills in defaults. Unknown keys are dropped.
/// Errors are `(key, reason)`, one per broken field.
pub fn validate_settings(
    schema: &[SettingField],
    values: &Map<String, Value>,
) -> Result<Map<String, Value>, Vec<(String, String)>> {
    let mut out = Map::new();
    let mut errors = Vec::new();
    for f in schema {
        match values.get(&f.key).filter(|v| !v.is_null()).or(f.default.as_ref()) {
            Some(v) => match f.check(v) {
                Ok(()) => {
                    out.insert(f.key.clone(), v.clone());
                }
                Err(reason) => errors.push((f.key.clone(), reason)),
            },
            None if f.required => errors.push((f.key.clone(), "is required".into())),
            None => {}
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(kind: SettingType) -> SettingField {
        SettingField {
            key: "k".into(),
            label: "K".into(),
            kind,
            default: None,
            required: false,
            min: None,
            max: None,
            options: vec![],
            help: String::new(),
        }
    }

    #[test]
    fn numbers_respect_bounds() {
        let f = SettingField { min: Some(1.0), max: Some(365.0), ..field(SettingType::Integer) };
        assert!(f.check(&json!(90)).is_ok());
        assert_eq!(f.check(&json!(0)).unwrap_err(), "must be at least 1");
        assert_eq!(f.check(&json!(1.5)).unwrap_err(), "must be a whole number");
        assert_eq!(f.from_form(Some("400")).unwrap_err(), "must be at most 365");
        assert_eq!(f.from_form(Some("12")).unwrap(), Some(json!(12)));
    }

    #[test]
    fn forms_turn_into_typed_values() {
        assert_eq!(field(SettingType::Boolean).from_form(None).unwrap(), Some(json!(false)));
        assert_eq!(field(SettingType::List).from_form(Some("a\n\n b \n")).unwrap(), Some(json!(["a", "b"])));
        let s = SettingField { options: vec!["x".into(), "y".into()], ..field(SettingType::Select) };
        assert!(s.from_form(Some("z")).is_err());
    }

    #[test]
    fn settings_get_defaults_and_report_every_bad_key() {
        let schema = vec![
            SettingField { key: "days".into(), default: Some(json!(30)), ..field(SettingType::Integer) },
            SettingField { key: "name".into(), required: true, ..field(SettingType::String) },
            SettingField { key: "on".into(), ..field(SettingType::Boolean) },
        ];
        let got = validate_settings(&schema, json!({"name": "n", "junk": 1}).as_object().unwrap()).unwrap();
        assert_eq!(Value::Object(got), json!({"days": 30, "name": "n"}));
        let errs = validate_settings(&schema, json!({"days": "x", "on": 3}).as_object().unwrap()).unwrap_err();
        let keys: Vec<_> = errs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["days", "name", "on"]);
    }
}
