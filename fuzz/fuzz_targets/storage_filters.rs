//! Plugin storage queries, differentially: random filters (eq, in, range, prefix; numbers, strings, booleans,
//! raw text), ordering and page sizes run through the host's query builder on a real SQLite database, and the
//! pages (followed by cursor to the end) must hold exactly the records a plain in-memory evaluation of the same
//! filters selects, each once. Never a panic or a database error.
#![no_main]

use std::collections::BTreeSet;
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use portico::storage::Db;
use portico::storage::plugin_data::{self, Condition, IndexSpec, RecordQuery, RecordScope};
use serde_json::{Map, Value, json};

const FIELDS: [&str; 4] = ["n", "s", "tags", "flag"];
const STRINGS: [&str; 8] = ["", "a", "ab", "abc", "b", "Ä", "a%", "a_"];

struct World {
    rt: tokio::runtime::Runtime,
    db: Db,
    scope: RecordScope,
    records: Vec<(String, Map<String, Value>)>,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("fuzz.db").display());
        let scope = RecordScope { tenant_id: "t".into(), plugin_id: "p".into(), org: None };
        let indexes: Vec<IndexSpec> =
            FIELDS.iter().map(|f| IndexSpec { field: f.to_string(), unique: false }).collect();
        let records: Vec<(String, Map<String, Value>)> = (0..60)
            .map(|i: i64| {
                let mut m = Map::new();
                if i % 11 != 0 {
                    m.insert("n".into(), if i % 5 == 0 { json!((i % 7) as f64 / 2.0 - 1.0) } else { json!(i % 7 - 3) });
                }
                if i % 13 != 0 {
                    // A few records hold a number where most hold text.
                    m.insert("s".into(), if i % 17 == 0 { json!(i % 3) } else { json!(STRINGS[(i % 8) as usize]) });
                }
                let tags: Vec<&str> = (0..(i % 4)).map(|k| STRINGS[((i + k * 3) % 8) as usize]).collect();
                m.insert("tags".into(), json!(tags));
                if i % 3 != 0 {
                    m.insert("flag".into(), json!(i % 2 == 0));
                }
                (format!("r{i:03}"), m)
            })
            .collect();
        let db = rt.block_on(async {
            let db = Db::connect(&url).await.unwrap();
            db.migrate().await.unwrap();
            let mut tx = db.begin().await.unwrap();
            for (id, m) in &records {
                plugin_data::insert(&mut tx, &scope, "c", Some(id), None, m, &indexes, 1_000).await.unwrap();
            }
            tx.commit().await.unwrap();
            db
        });
        World { rt, db, scope, records, _dir: dir }
    })
}

#[derive(Arbitrary, Debug, Clone)]
enum Scalar {
    Int(i8),
    Half(i8),
    Str(u8),
    Raw(String),
    Bool(bool),
}

impl Scalar {
    fn json(&self) -> Value {
        match self {
            Scalar::Int(i) => json!(i % 5),
            Scalar::Half(i) => json!(f64::from(i % 8) / 2.0),
            Scalar::Str(k) => json!(STRINGS[*k as usize % STRINGS.len()]),
            Scalar::Raw(s) => json!(s),
            Scalar::Bool(b) => json!(b),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Cond {
    Eq(Scalar),
    In(Vec<Scalar>),
    Range(Option<Scalar>, Option<Scalar>),
    Prefix(u8),
    RawPrefix(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    filters: Vec<(u8, Cond)>,
    /// Ordering by a scalar field (n, s, flag) or by creation.
    order: Option<(u8, bool)>,
    limit: u8,
}

/// A value as the index holds it: (text, number). Written again here on purpose, from the documented rules and
/// not by calling the host's own, so the two can disagree.
fn index_values(v: &Value) -> Vec<(Option<String>, Option<f64>)> {
    match v {
        Value::String(s) => vec![(Some(s.clone()), None)],
        Value::Number(n) => vec![(None, n.as_f64())],
        Value::Bool(b) => vec![(Some(b.to_string()), None)],
        Value::Array(items) => items.iter().filter(|i| !i.is_array()).flat_map(index_values).collect(),
        _ => Vec::new(),
    }
}

/// The column and value a filter scalar compares with.
fn key(v: &Value) -> (Option<String>, Option<f64>) {
    match v {
        Value::Number(n) => (None, n.as_f64()),
        Value::String(s) => (Some(s.clone()), None),
        Value::Bool(b) => (Some(b.to_string()), None),
        _ => unreachable!(),
    }
}

fn cmp_ok(row: &(Option<String>, Option<f64>), bound: &(Option<String>, Option<f64>), lower: bool) -> bool {
    match (bound, row) {
        ((Some(b), _), (Some(t), _)) => {
            if lower {
                t.as_bytes() >= b.as_bytes()
            } else {
                t.as_bytes() < b.as_bytes()
            }
        }
        ((None, Some(b)), (_, Some(n))) => {
            if lower {
                n >= b
            } else {
                n < b
            }
        }
        _ => false,
    }
}

/// The plain evaluation: a record matches a filter when one of the field's index values satisfies it.
fn matches(record: &Map<String, Value>, field: &str, cond: &Condition) -> bool {
    let rows = record.get(field).map(index_values).unwrap_or_default();
    rows.iter().any(|row| match cond {
        Condition::Eq(v) => key(v) == *row,
        Condition::In(vs) => vs.iter().any(|v| key(v) == *row),
        Condition::Range(lo, hi) => {
            lo.as_ref().is_none_or(|lo| cmp_ok(row, &key(lo), true))
                && hi.as_ref().is_none_or(|hi| cmp_ok(row, &key(hi), false))
        }
        Condition::Prefix(p) => {
            let hi = format!("{p}\u{10FFFF}");
            row.0.as_ref().is_some_and(|t| t.as_bytes() >= p.as_bytes() && t.as_bytes() < hi.as_bytes())
        }
    })
}

fuzz_target!(|input: Input| {
    let w = world();
    let filters: Vec<(String, Condition)> = input
        .filters
        .iter()
        .take(4)
        .map(|(f, c)| {
            let field = FIELDS[*f as usize % FIELDS.len()].to_string();
            let cond = match c {
                Cond::Eq(v) => Condition::Eq(v.json()),
                Cond::In(vs) => Condition::In(vs.iter().take(6).map(Scalar::json).collect()),
                Cond::Range(lo, hi) => Condition::Range(lo.as_ref().map(Scalar::json), hi.as_ref().map(Scalar::json)),
                Cond::Prefix(k) => Condition::Prefix(STRINGS[*k as usize % STRINGS.len()].to_string()),
                Cond::RawPrefix(p) => Condition::Prefix(p.clone()),
            };
            (field, cond)
        })
        .collect();
    let expected: BTreeSet<String> = w
        .records
        .iter()
        .filter(|(_, r)| filters.iter().all(|(f, c)| matches(r, f, c)))
        .map(|(id, _)| id.clone())
        .collect();
    let order_by = input.order.map(|(f, desc)| (["n", "s", "flag"][f as usize % 3].to_string(), desc));
    let limit = u32::from(input.limit % 25) + 1;
    let mut seen = Vec::new();
    let mut cursor = None;
    w.rt.block_on(async {
        let mut conn = w.db.begin().await.unwrap();
        for _ in 0..100 {
            let q = RecordQuery {
                collection: "c".into(),
                filters: filters.clone(),
                order_by: order_by.clone(),
                limit,
                cursor: cursor.clone(),
            };
            let (page, next) = plugin_data::query(&mut conn, &w.scope, &q).await.expect("a query never fails");
            assert!(page.len() <= limit as usize);
            seen.extend(page.into_iter().map(|r| r.id));
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let n = plugin_data::count(&mut conn, &w.scope, "c", &filters).await.expect("a count never fails");
        assert_eq!(n as usize, expected.len(), "count of {filters:?}");
    });
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a record was listed twice: {seen:?}");
    assert_eq!(unique, expected, "filters {filters:?}, order {order_by:?}, limit {limit}");
});
