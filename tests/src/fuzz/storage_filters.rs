//! Plugin storage queries, differentially: random filters (eq, in, range, prefix; numbers, strings, booleans,
//! raw text), ordering and page sizes run through the host's query builder on a real SQLite database, and the
//! pages (followed by cursor to the end) must hold exactly the records a plain in-memory evaluation of the same
//! filters selects, each once, in the order the documented sort rules give. Never a panic or a database error.
use std::collections::BTreeSet;
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use portico::storage::Db;
use portico::storage::plugin_data::{self, Condition, IndexSpec, RecordQuery, RecordScope};
use serde_json::{Map, Value, json};

const FIELDS: [&str; 4] = ["n", "s", "tags", "flag"];
const STRINGS: [&str; 8] = ["", "a", "ab", "abc", "b", "Ä", "a%", "a_"];

struct World {
    rt: tokio::runtime::Runtime,
    db: Db,
    scope: RecordScope,
    /// Id, organisation, data.
    records: Vec<(String, Option<&'static str>, Map<String, Value>)>,
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
        let records: Vec<(String, Option<&'static str>, Map<String, Value>)> = (0..60)
            .map(|i: i64| {
                let mut m = Map::new();
                if i % 11 != 0 {
                    m.insert("n".into(), if i % 5 == 0 { json!((i % 7) as f64 / 2.0 - 1.0) } else { json!(i % 7 - 3) });
                }
                if i % 13 != 0 {
                    // A few records hold a number where most hold text.
                    m.insert("s".into(), if i % 17 == 0 { json!(i % 3) } else { json!(STRINGS[(i % 8) as usize]) });
                }
                let mut tags: Vec<Value> = (0..(i % 4)).map(|k| json!(STRINGS[((i + k * 3) % 8) as usize])).collect();
                // Some arrays repeat an element, and some mix in a number.
                if i % 4 == 3 {
                    tags.push(tags[0].clone());
                }
                if i % 7 == 0 {
                    tags.push(json!(i % 3));
                }
                m.insert("tags".into(), json!(tags));
                if i % 3 != 0 {
                    m.insert("flag".into(), json!(i % 2 == 0));
                }
                (format!("r{i:03}"), [Some("o1"), Some("o2"), None][(i % 3) as usize], m)
            })
            .collect();
        let db = rt.block_on(async {
            let db = Db::connect(&url).await.unwrap();
            db.migrate().await.unwrap();
            let mut tx = db.begin().await.unwrap();
            for (id, org, m) in &records {
                plugin_data::insert(&mut tx, &scope, "c", Some(id), *org, m, &indexes, 1_000).await.unwrap();
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
    /// Ordering by a field (n, s, tags, flag) or by creation.
    order: Option<(u8, bool)>,
    limit: u8,
}

/// A value as the index holds it: (text, number), each distinct element of an array once. Written again here on
/// purpose, from the documented rules and not by calling the host's own, so the two can disagree.
fn index_values(v: &Value) -> Vec<(Option<String>, Option<f64>)> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some((Some(s.clone()), None)),
        Value::Number(n) => Some((None, n.as_f64())),
        Value::Bool(b) => Some((Some(b.to_string()), None)),
        _ => None,
    };
    match v {
        Value::Array(items) => {
            let mut out: Vec<(Option<String>, Option<f64>)> = Vec::new();
            for row in items.iter().filter_map(scalar) {
                if !out.contains(&row) {
                    out.push(row);
                }
            }
            out
        }
        v => scalar(v).into_iter().collect(),
    }
}

/// Where a record sorts by `field`: ascending, records with a number (by the smallest), then with text only (by
/// the smallest), then without a value; descending, records with text (by the largest), then with numbers only
/// (by the largest), then without a value. Within a group by the value, then the id, in the query's direction.
fn sort_key(record: &Map<String, Value>, field: &str, desc: bool) -> (u8, f64, String) {
    let rows = record.get(field).map(index_values).unwrap_or_default();
    let nums = rows.iter().filter_map(|r| r.1);
    let texts = rows.iter().filter_map(|r| r.0.clone());
    let (num, text) = if desc {
        (nums.max_by(f64::total_cmp), texts.max_by(|a, b| a.as_bytes().cmp(b.as_bytes())))
    } else {
        (nums.min_by(f64::total_cmp), texts.min_by(|a, b| a.as_bytes().cmp(b.as_bytes())))
    };
    match (desc, num, text) {
        (false, Some(n), _) => (0, n, String::new()),
        (false, None, Some(t)) => (1, 0.0, t),
        (true, _, Some(t)) => (0, 0.0, t),
        (true, Some(n), None) => (1, n, String::new()),
        (_, None, None) => (2, 0.0, String::new()),
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

pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
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
    let order_by = input.order.map(|(f, desc)| (FIELDS[f as usize % FIELDS.len()].to_string(), desc));
    let limit = u32::from(input.limit % 25) + 1;
    // Every plan: the whole collection and one organisation, each driven by its most selective filter and read
    // in order with the filters checked per record.
    for org in [None, Some("o1")] {
        for selective in [2_000, 1] {
            check(w, &filters, &order_by, limit, org, selective);
        }
    }
}

fn check(
    w: &World,
    filters: &[(String, Condition)],
    order_by: &Option<(String, bool)>,
    limit: u32,
    org: Option<&'static str>,
    selective: i64,
) {
    // Every record was created at the same time, so creation order is id order.
    let mut expected: Vec<(u8, f64, String, &str)> = w
        .records
        .iter()
        .filter(|(_, o, r)| (org.is_none() || *o == org) && filters.iter().all(|(f, c)| matches(r, f, c)))
        .map(|(id, _, r)| match order_by {
            Some((field, desc)) => {
                let (g, n, t) = sort_key(r, field, *desc);
                (g, n, t, id.as_str())
            }
            None => (0, 0.0, String::new(), id.as_str()),
        })
        .collect();
    let desc = order_by.as_ref().is_some_and(|o| o.1);
    expected.sort_by(|a, b| {
        let within = a.1.total_cmp(&b.1).then_with(|| a.2.as_bytes().cmp(b.2.as_bytes())).then_with(|| a.3.cmp(b.3));
        a.0.cmp(&b.0).then(if desc { within.reverse() } else { within })
    });
    let expected: Vec<&str> = expected.into_iter().map(|e| e.3).collect();
    let scope = RecordScope { org: org.map(str::to_string), ..w.scope.clone() };
    let mut seen = Vec::new();
    let mut cursor = None;
    w.rt.block_on(async {
        let mut conn = w.db.begin().await.unwrap();
        for _ in 0..100 {
            let q = RecordQuery {
                collection: "c".into(),
                filters: filters.to_vec(),
                order_by: order_by.clone(),
                limit,
                cursor: cursor.clone(),
            };
            let (page, next) =
                plugin_data::query_planned(&mut conn, &scope, &q, selective).await.expect("a query never fails");
            assert!(page.len() <= limit as usize);
            seen.extend(page.into_iter().map(|r| r.id));
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let n = plugin_data::count(&mut conn, &scope, "c", filters).await.expect("a count never fails");
        assert_eq!(n as usize, expected.len(), "count of {filters:?} in {org:?}");
    });
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a record was listed twice: {seen:?}");
    assert_eq!(
        seen, expected,
        "filters {filters:?}, order {order_by:?}, limit {limit}, org {org:?}, bound {selective}"
    );
}
