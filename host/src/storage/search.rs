//! Full-text search for plugins, on SQLite FTS5 or PostgreSQL full-text search. A document's title, tags and text
//! are searched; its access labels, tags, organisation and (on SQLite) its tenant and plugin are indexed as tokens
//! of their own (on SQLite in the FTS table's `labels` column, on PostgreSQL in a `labels` array indexed with the
//! text in one GIN index), so every filter is part of the indexed query itself and applies before ranking and
//! limits: a caller never finds, or counts, what it may not see. Queries take words, "quoted phrases" and prefix* terms; the
//! same terms are sent to either engine (no stemming on either, so both find the same words).

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::{Backend, Result};
use crate::domain::Millis;

/// A document to index.
#[derive(Debug, Clone)]
pub struct SearchDoc {
    pub id: String,
    pub title: String,
    pub text: String,
    pub tags: Vec<String>,
    pub labels: Vec<String>,
    pub org_id: Option<String>,
}

/// A query.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: String,
    /// Each group must share a label with the document.
    pub label_groups: Vec<Vec<String>>,
    pub tags: Vec<String>,
    /// For a partner caller: only documents of this organisation or of none.
    pub org: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

/// A document found: id, title, score (higher is better) and a snippet as (text, matched) pieces.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub id: String,
    pub title: String,
    pub score: f64,
    pub snippet: Vec<(String, bool)>,
}

/// Where a document belongs: its tenant and plugin.
#[derive(Debug, Clone, Copy)]
pub struct SearchScope<'a> {
    pub tenant_id: &'a str,
    pub plugin_id: &'a str,
}

/// Indexes (or re-indexes) a document, on the caller's connection (a plugin's transaction).
pub async fn index(
    conn: &mut AnyConnection,
    backend: Backend,
    s: SearchScope<'_>,
    doc: &SearchDoc,
    now: Millis,
) -> Result<()> {
    remove(conn, backend, s, &doc.id).await?;
    let tags = doc.tags.join(" ");
    let tokens = doc_tokens(doc);
    match backend {
        Backend::Sqlite => {
            let tokens = format!("{} {}", scope_token(s), tokens.join(" "));
            // FTS5 tables take no RETURNING clause: the connection's last rowid is the new row's.
            sqlx::query("INSERT INTO search_fts (title, tags, body, labels) VALUES ($1, $2, $3, $4)")
                .bind(&doc.title)
                .bind(&tags)
                .bind(&doc.text)
                .bind(&tokens)
                .execute(&mut *conn)
                .await?;
            let rowid: i64 = sqlx::query_scalar("SELECT last_insert_rowid()").fetch_one(&mut *conn).await?;
            sqlx::query(
                "INSERT INTO search_docs (tenant_id, plugin_id, doc_id, fts_rowid, title, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(s.tenant_id)
            .bind(s.plugin_id)
            .bind(&doc.id)
            .bind(rowid)
            .bind(&doc.title)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Backend::Postgres => {
            // Tokens are letters and digits only: the array literal needs no quoting.
            let tokens = format!("{{{}}}", tokens.join(","));
            sqlx::query(
                "INSERT INTO search_docs (tenant_id, plugin_id, doc_id, title, body, tsv, labels, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, setweight(to_tsvector('simple', $4), 'A') \
                 || setweight(to_tsvector('simple', $6), 'B') || setweight(to_tsvector('simple', $5), 'C'), \
                 CAST($7 AS TEXT[]), $8)",
            )
            .bind(s.tenant_id)
            .bind(s.plugin_id)
            .bind(&doc.id)
            .bind(&doc.title)
            .bind(&doc.text)
            .bind(&tags)
            .bind(&tokens)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Removes a document; true when it was indexed.
pub async fn remove(conn: &mut AnyConnection, backend: Backend, s: SearchScope<'_>, id: &str) -> Result<bool> {
    if backend == Backend::Sqlite {
        let rowid: Option<i64> = sqlx::query_scalar(
            "SELECT fts_rowid FROM search_docs WHERE tenant_id = $1 AND plugin_id = $2 AND doc_id = $3",
        )
        .bind(s.tenant_id)
        .bind(s.plugin_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(rowid) = rowid {
            sqlx::query("DELETE FROM search_fts WHERE rowid = $1").bind(rowid).execute(&mut *conn).await?;
        }
    }
    let done = sqlx::query("DELETE FROM search_docs WHERE tenant_id = $1 AND plugin_id = $2 AND doc_id = $3")
        .bind(s.tenant_id)
        .bind(s.plugin_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The hits of PostgreSQL's rows (`doc_id`, `title`, `rank`, `snip`); `ts_rank_cd` ranks better matches higher.
fn hits(rows: &[sqlx::any::AnyRow]) -> Result<Vec<SearchHit>> {
    rows.iter()
        .map(|r| {
            Ok(SearchHit {
                id: r.try_get("doc_id")?,
                title: r.try_get("title")?,
                score: r.try_get::<f64, _>("rank")?,
                snippet: pieces(&r.try_get::<String, _>("snip")?),
            })
        })
        .collect()
}

/// How many matches a query ranks and counts. Ranking every match of a broad query (a common word, a two-letter
/// prefix) costs what it matches: 90 ms for a prefix matching a third of 100,000 documents on PostgreSQL. So a
/// query ranks its first `MATCH_CAP` matches in the index's order and counts up to as many; a total of
/// `MATCH_CAP` means "at least that many", and a caller refines the query.
pub const MATCH_CAP: i64 = 1_000;

/// Searches; returns a page of hits, best first among the first [`MATCH_CAP`] matches, and how many documents
/// match, counted up to [`MATCH_CAP`].
pub async fn query(
    conn: &mut AnyConnection,
    backend: Backend,
    s: SearchScope<'_>,
    q: &SearchQuery,
) -> Result<(Vec<SearchHit>, u64)> {
    let terms = parse(&q.text);
    let filters = filter_groups(q);
    let limit = i64::from(q.limit.clamp(1, 100));
    let offset = i64::from(q.offset).min(MATCH_CAP);
    match backend {
        Backend::Sqlite => {
            let text = (!terms.is_empty()).then(|| {
                let words: Vec<String> = terms.iter().map(Term::fts5).collect();
                format!("{{title tags body}} : ({})", words.join(" AND "))
            });
            let mut parts: Vec<String> = text.iter().cloned().collect();
            for group in std::iter::once(&vec![scope_token(s)]).chain(&filters) {
                let any: Vec<String> = group.iter().map(|t| format!("\"{t}\"")).collect();
                parts.push(format!("labels : ({})", any.join(" OR ")));
            }
            let expr = parts.join(" AND ");
            // Each query reads one table, so that no statistics can turn a MATCH into a per-row lookup (a join,
            // or a `rowid IN (…)` beside the MATCH, was planned that way after ANALYZE and took seconds).
            // 1. The caller's first MATCH_CAP matches, filters and all: the total, and the set that is ranked.
            let found: Vec<i64> = sqlx::query_scalar("SELECT rowid FROM search_fts WHERE search_fts MATCH $1 LIMIT $2")
                .bind(&expr)
                .bind(MATCH_CAP)
                .fetch_all(&mut *conn)
                .await?;
            let total = found.len() as u64;
            let (Some(&first), Some(&last)) = (found.iter().min(), found.iter().max()) else {
                return Ok((Vec::new(), total));
            };
            let set = serde_json::to_string(&found).expect("a list of integers serialises");
            // 2. The page, ranked by the text terms alone: bm25 weighs every phrase of its MATCH by how many rows
            // hold it, and a scope or label token held by half the table cost a scan of half the table per query.
            // CASE keeps bm25 to the set's rows; the scan runs over the text's matches between its ends.
            let page: Vec<(i64, f64)> =
                match &text {
                    Some(text) => sqlx::query_as(
                        "SELECT r, rank FROM (SELECT rowid AS r, CASE WHEN rowid IN (SELECT value FROM json_each($2)) \
                         THEN bm25(search_fts, 10.0, 3.0, 1.0, 0.0) END AS rank FROM search_fts \
                         WHERE search_fts MATCH $1 AND rowid >= $3 AND rowid <= $4) m \
                         WHERE rank IS NOT NULL ORDER BY rank, r LIMIT $5 OFFSET $6",
                    )
                    .bind(text)
                    .bind(&set)
                    .bind(first)
                    .bind(last)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&mut *conn)
                    .await?,
                    // Labels only: nothing to rank by, so in the index's order.
                    None => found.iter().skip(offset as usize).take(limit as usize).map(|&r| (r, 0.0)).collect(),
                };
            let (Some(page_first), Some(page_last)) =
                (page.iter().map(|(r, _)| *r).min(), page.iter().map(|(r, _)| *r).max())
            else {
                return Ok((Vec::new(), total));
            };
            let rowids = serde_json::to_string(&page.iter().map(|(r, _)| *r).collect::<Vec<_>>())
                .expect("a list of integers serialises");
            // 3. The snippets of the page's rows only (snippet is costly; CASE makes it lazy), over the text's
            // matches between the page's ends: the text terms are what is highlighted, and the filters were
            // applied in step 1. Without text there is nothing to highlight.
            let snippets: Vec<(i64, Option<String>)> = match &text {
                Some(text) => {
                    sqlx::query_as(
                        "SELECT rowid, CASE WHEN rowid IN (SELECT value FROM json_each($2)) \
                     THEN snippet(search_fts, 2, char(2), char(3), '…', 24) END \
                     FROM search_fts WHERE search_fts MATCH $1 AND rowid >= $3 AND rowid <= $4",
                    )
                    .bind(text)
                    .bind(&rowids)
                    .bind(page_first)
                    .bind(page_last)
                    .fetch_all(&mut *conn)
                    .await?
                }
                None => Vec::new(),
            };
            // 4. The documents' ids and titles, checked against the caller's tenant and plugin once more.
            let docs: Vec<(i64, String, String)> = sqlx::query_as(
                "SELECT fts_rowid, doc_id, title FROM search_docs WHERE tenant_id = $1 AND plugin_id = $2 \
                 AND fts_rowid IN (SELECT value FROM json_each($3))",
            )
            .bind(s.tenant_id)
            .bind(s.plugin_id)
            .bind(&rowids)
            .fetch_all(&mut *conn)
            .await?;
            let snippets: HashMap<i64, String> =
                snippets.into_iter().filter_map(|(r, snip)| Some((r, snip?))).collect();
            let docs: HashMap<i64, (String, String)> =
                docs.into_iter().map(|(r, id, title)| (r, (id, title))).collect();
            // bm25 ranks better matches lower: negated, higher is better on both engines.
            let hits = page
                .into_iter()
                .filter_map(|(r, rank)| {
                    let (id, title) = docs.get(&r)?.clone();
                    let snippet = pieces(snippets.get(&r).map_or("", String::as_str));
                    Some(SearchHit { id, title, score: 0.0 - rank, snippet })
                })
                .collect();
            Ok((hits, total))
        }
        Backend::Postgres => {
            let text_query: Vec<String> = terms.iter().map(Term::tsquery).collect();
            let text_query = text_query.join(" & ");
            // The conditions: the text through the GIN index's tsvector column, each filter group through its
            // labels column (`&&`: shares a token with the group), all in one index scan.
            let mut conds = vec!["tenant_id = $1".to_string(), "plugin_id = $2".to_string()];
            if !terms.is_empty() {
                conds.push("tsv @@ to_tsquery('simple', $3)".into());
            }
            let groups: Vec<String> = filters.iter().map(|g| format!("{{{}}}", g.join(","))).collect();
            for i in 0..groups.len() {
                conds.push(format!("labels && CAST(${} AS TEXT[])", i + 7));
            }
            let conds = conds.join(" AND ");
            // Ranking and the snippet take the text terms; with none, nothing is highlighted.
            let highlight = if terms.is_empty() { "zzznothing" } else { text_query.as_str() };
            // The first MATCH_CAP matches are counted and ranked in one scan, and only the page's hits get a
            // headline (it reparses the body, so it is worth computing for twenty rows, not for every match).
            let sql = format!(
                "WITH m AS (SELECT doc_id, title, body, tsv FROM search_docs WHERE {conds} LIMIT $6), \
                 page AS (SELECT doc_id, title, body, COUNT(*) OVER () AS total, \
                   CAST(ts_rank_cd('{{0, 0.2, 0.4, 1.0}}', tsv, to_tsquery('simple', $3)) AS DOUBLE PRECISION) AS rank \
                   FROM m ORDER BY rank DESC, doc_id LIMIT $4 OFFSET $5) \
                 SELECT doc_id, title, rank, total, ts_headline('simple', body, to_tsquery('simple', $3), \
                   'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords=30, MinWords=10, MaxFragments=2, FragmentDelimiter=\" … \"') AS snip \
                 FROM page ORDER BY rank DESC, doc_id"
            );
            // Both statements are built from fixed clauses and numbered placeholders only, and take the same values.
            let bound = |sql: String| {
                let mut q = sqlx::query(AssertSqlSafe(sql))
                    .bind(s.tenant_id)
                    .bind(s.plugin_id)
                    .bind(highlight)
                    .bind(limit)
                    .bind(offset)
                    .bind(MATCH_CAP);
                for g in &groups {
                    q = q.bind(g);
                }
                q
            };
            let rows = bound(sql).fetch_all(&mut *conn).await?;
            let total: i64 = match rows.first() {
                Some(r) => r.try_get("total")?,
                // A page past the last match: the count alone.
                None if offset > 0 => {
                    let sql =
                        format!("SELECT COUNT(*) AS total FROM (SELECT 1 FROM search_docs WHERE {conds} LIMIT $6) c");
                    bound(sql).fetch_one(&mut *conn).await?.try_get("total")?
                }
                None => 0,
            };
            Ok((hits(&rows)?, total.max(0) as u64))
        }
    }
}

/// A term of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Word(String),
    Prefix(String),
    Phrase(Vec<String>),
}

impl Term {
    fn fts5(&self) -> String {
        match self {
            Term::Word(w) => format!("\"{w}\""),
            Term::Prefix(p) => format!("\"{p}\" *"),
            Term::Phrase(ws) => format!("\"{}\"", ws.join(" ")),
        }
    }

    fn tsquery(&self) -> String {
        match self {
            Term::Word(w) => w.clone(),
            Term::Prefix(p) => format!("{p}:*"),
            Term::Phrase(ws) => format!("({})", ws.join(" <-> ")),
        }
    }
}

/// The words of text as both engines split it: runs of letters and digits, lowercased.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Words, "quoted phrases" and prefix* terms; anything else is a separator (operators cannot be injected).
fn parse(text: &str) -> Vec<Term> {
    let mut terms = Vec::new();
    for (i, chunk) in text.split('"').enumerate() {
        if i % 2 == 1 {
            let ws = words(chunk);
            match ws.len() {
                0 => {}
                1 => terms.push(Term::Word(ws[0].clone())),
                _ => terms.push(Term::Phrase(ws)),
            }
            continue;
        }
        for raw in chunk.split_whitespace() {
            let prefix = raw.ends_with('*');
            let ws = words(raw);
            for (j, w) in ws.iter().enumerate() {
                if prefix && j == ws.len() - 1 && w.chars().count() >= 2 {
                    terms.push(Term::Prefix(w.clone()));
                } else {
                    terms.push(Term::Word(w.clone()));
                }
            }
        }
    }
    terms.truncate(16);
    terms
}

/// A filter value as an index token of its own: a prefix and a hash, letters and digits only, so neither engine
/// splits it and no searched word can be one.
fn token(kind: &str, value: &str) -> String {
    format!("z{kind}{}", &hex::encode(Sha256::digest(value.as_bytes()))[..20])
}

/// The token of a document's tenant and plugin, which SQLite's one FTS table filters by (PostgreSQL has columns).
fn scope_token(s: SearchScope<'_>) -> String {
    token("s", &format!("{}/{}", s.tenant_id, s.plugin_id))
}

/// The tokens a document is found by when filtering.
fn doc_tokens(doc: &SearchDoc) -> Vec<String> {
    let mut t = vec![token("o", doc.org_id.as_deref().unwrap_or(""))];
    t.extend(doc.labels.iter().map(|l| token("l", l)));
    t.extend(doc.tags.iter().map(|tag| token("t", &tag.to_lowercase())));
    t
}

/// The query's filters as groups of tokens, every group required, any token of a group enough.
fn filter_groups(q: &SearchQuery) -> Vec<Vec<String>> {
    let mut groups = Vec::new();
    if let Some(org) = &q.org {
        groups.push(vec![token("o", org), token("o", "")]);
    }
    for g in &q.label_groups {
        groups.push(g.iter().map(|l| token("l", l)).collect());
    }
    for tag in &q.tags {
        groups.push(vec![token("t", &tag.to_lowercase())]);
    }
    groups
}

/// A snippet with STX/ETX around its matches, as pieces.
fn pieces(snippet: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut hit = false;
    for part in snippet.split(['\u{2}', '\u{3}']) {
        if !part.is_empty() {
            out.push((part.to_string(), hit));
        }
        hit = !hit;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_into_words_phrases_and_prefixes_and_nothing_else() {
        assert_eq!(
            parse(r#"Partner "deal registration" integr* OR x:y NEAR(a) -b"#),
            vec![
                Term::Word("partner".into()),
                Term::Phrase(vec!["deal".into(), "registration".into()]),
                Term::Prefix("integr".into()),
                Term::Word("or".into()),
                Term::Word("x".into()),
                Term::Word("y".into()),
                Term::Word("near".into()),
                Term::Word("a".into()),
                Term::Word("b".into()),
            ]
        );
        assert_eq!(parse("Café-Straße"), vec![Term::Word("café".into()), Term::Word("straße".into())]);
        assert_eq!(Term::Prefix("integr".into()).tsquery(), "integr:*");
        assert_eq!(Term::Phrase(vec!["a".into(), "b".into()]).fts5(), "\"a b\"");
    }

    #[test]
    fn snippets_split_at_their_marks() {
        assert_eq!(
            pieces("the \u{2}deal\u{3} was \u{2}won\u{3}."),
            vec![
                ("the ".into(), false),
                ("deal".into(), true),
                (" was ".into(), false),
                ("won".into(), true),
                (".".into(), false)
            ]
        );
    }
}
