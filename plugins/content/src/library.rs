//! The library's rules, free of the host and tested natively: who may open an asset (its program, tier and role
//! restrictions, its publish and expiry dates), the search labels that enforce the same inside the host's index,
//! and the versions of an asset's file.

use serde::{Deserialize, Serialize};

/// Who may open an asset: empty lists restrict nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Access {
    /// Program keys.
    pub programs: Vec<String>,
    /// Tier keys (of the programs).
    pub tiers: Vec<String>,
    /// `partner_admin`, `partner_user`.
    pub roles: Vec<String>,
}

/// A partner caller as access sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub program: Option<String>,
    pub tier: Option<String>,
    pub role: String,
}

impl Access {
    pub fn allows(&self, v: &Viewer) -> bool {
        let within = |list: &[String], value: Option<&str>| {
            list.is_empty() || value.is_some_and(|x| list.iter().any(|l| l == x))
        };
        within(&self.programs, v.program.as_deref())
            && within(&self.tiers, v.tier.as_deref())
            && within(&self.roles, Some(&v.role))
    }

    /// The search labels of an asset with this access, in groups the query must each match (see [`query_labels`]).
    pub fn labels(&self, state: State) -> Vec<String> {
        let group = |kind: &str, list: &[String]| -> Vec<String> {
            if list.is_empty() {
                vec![format!("{kind}:*")]
            } else {
                list.iter().map(|x| format!("{kind}:{x}")).collect()
            }
        };
        let mut out = group("program", &self.programs);
        out.extend(group("tier", &self.tiers));
        out.extend(group("role", &self.roles));
        out.push(format!("state:{}", state.as_str()));
        out
    }

    /// Problems with the lists, at their fields.
    pub fn check(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for r in &self.roles {
            if !["partner_admin", "partner_user"].contains(&r.as_str()) {
                out.push(("access.roles".into(), format!("{r} is not partner_admin or partner_user")));
            }
        }
        out
    }
}

/// The label groups a partner's search must match: each group one of its labels.
pub fn query_labels(v: &Viewer) -> Vec<Vec<String>> {
    let group = |kind: &str, value: Option<&str>| {
        let mut g = vec![format!("{kind}:*")];
        if let Some(x) = value {
            g.push(format!("{kind}:{x}"));
        }
        g
    };
    vec![
        group("program", v.program.as_deref()),
        group("tier", v.tier.as_deref()),
        group("role", Some(&v.role)),
        vec![format!("state:{}", State::Live.as_str())],
    ]
}

/// Where an asset is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Its publish date has not come.
    Scheduled,
    Live,
    /// Past its expiry: not downloadable, shown as expired to staff only.
    Expired,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Scheduled => "scheduled",
            State::Live => "live",
            State::Expired => "expired",
        }
    }

    pub fn at(now: i64, publish_at: Option<i64>, expires_at: Option<i64>) -> State {
        if expires_at.is_some_and(|e| e <= now) {
            State::Expired
        } else if publish_at.is_some_and(|p| p > now) {
            State::Scheduled
        } else {
            State::Live
        }
    }

    /// When the state next changes by the clock alone, if it does.
    pub fn next_change(now: i64, publish_at: Option<i64>, expires_at: Option<i64>) -> Option<i64> {
        [publish_at, expires_at].into_iter().flatten().filter(|t| *t > now).min()
    }
}

/// One upload of an asset's file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileVersion {
    /// 1, 2, …
    pub n: u32,
    pub key: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub at: i64,
    pub by: String,
    /// A restore of this earlier version.
    pub restored_from: Option<u32>,
}

/// Adds a version made from `from` (an upload, or an earlier version restored): it becomes the current one, and
/// every earlier version stays in the history.
pub fn push_version(versions: &mut Vec<FileVersion>, mut v: FileVersion) -> u32 {
    v.n = versions.iter().map(|x| x.n).max().unwrap_or(0) + 1;
    let n = v.n;
    versions.push(v);
    n
}

/// Words for a size.
pub fn size_text(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{} KB", bytes / 1_000),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// A folder as the tree needs it: id, name, parent.
pub type FolderRef<'a> = (&'a str, &'a str, Option<&'a str>);

/// The folders depth first, each after its parent and siblings by name, with their depth (a folder whose parent is
/// gone, or that would make a loop, is shown at the top).
pub fn tree<'a>(folders: &[FolderRef<'a>]) -> Vec<(&'a str, &'a str, usize)> {
    let ids: std::collections::HashSet<&str> = folders.iter().map(|f| f.0).collect();
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    fn walk<'a>(
        parent: Option<&str>,
        depth: usize,
        folders: &[FolderRef<'a>],
        ids: &std::collections::HashSet<&str>,
        seen: &mut std::collections::HashSet<&'a str>,
        out: &mut Vec<(&'a str, &'a str, usize)>,
    ) {
        let mut children: Vec<&FolderRef<'a>> = folders
            .iter()
            .filter(|f| match parent {
                Some(p) => f.2 == Some(p),
                None => f.2.is_none_or(|p| !ids.contains(p)),
            })
            .collect();
        children.sort_by_key(|f| (f.1.to_lowercase(), f.0));
        for f in children {
            if seen.insert(f.0) {
                out.push((f.0, f.1, depth));
                walk(Some(f.0), depth + 1, folders, ids, seen, out);
            }
        }
    }
    walk(None, 0, folders, &ids, &mut seen, &mut out);
    // Folders in a loop of parents reach no root: shown at the top rather than lost.
    for f in folders {
        if seen.insert(f.0) {
            out.push((f.0, f.1, 0));
        }
    }
    out
}

/// A folder and every folder under it.
pub fn within<'a>(folders: &[FolderRef<'a>], root: &'a str) -> Vec<&'a str> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let cur = out[i];
        for f in folders {
            if f.2 == Some(cur) && !out.contains(&f.0) {
                out.push(f.0);
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(program: Option<&str>, tier: Option<&str>, role: &str) -> Viewer {
        Viewer { program: program.map(String::from), tier: tier.map(String::from), role: role.into() }
    }

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn access_restricts_by_program_tier_and_role() {
        let open = Access::default();
        assert!(open.allows(&v(None, None, "partner_user")));
        let gold = Access { tiers: strings(&["gold"]), ..Default::default() };
        assert!(gold.allows(&v(Some("reseller"), Some("gold"), "partner_user")));
        assert!(!gold.allows(&v(Some("reseller"), Some("silver"), "partner_user")));
        assert!(!gold.allows(&v(None, None, "partner_user")));
        let admins = Access { programs: strings(&["msp"]), roles: strings(&["partner_admin"]), ..Default::default() };
        assert!(admins.allows(&v(Some("msp"), None, "partner_admin")));
        assert!(!admins.allows(&v(Some("msp"), None, "partner_user")));
        assert!(!admins.allows(&v(Some("reseller"), None, "partner_admin")));
    }

    #[test]
    fn labels_match_exactly_what_access_allows() {
        // For every asset and viewer, the label groups agree with `allows` (and a live state).
        let assets = [
            Access::default(),
            Access { tiers: strings(&["gold"]), ..Default::default() },
            Access { programs: strings(&["msp"]), roles: strings(&["partner_admin"]), ..Default::default() },
        ];
        let viewers = [
            v(Some("msp"), Some("gold"), "partner_admin"),
            v(Some("reseller"), Some("silver"), "partner_user"),
            v(None, None, "partner_user"),
        ];
        for a in &assets {
            for viewer in &viewers {
                let labels = a.labels(State::Live);
                let found = query_labels(viewer).iter().all(|g| g.iter().any(|l| labels.contains(l)));
                assert_eq!(found, a.allows(viewer), "{a:?} {viewer:?}");
                let expired = a.labels(State::Expired);
                assert!(!query_labels(viewer).iter().all(|g| g.iter().any(|l| expired.contains(l))));
            }
        }
    }

    #[test]
    fn states_follow_the_dates() {
        assert_eq!(State::at(10, None, None), State::Live);
        assert_eq!(State::at(10, Some(20), None), State::Scheduled);
        assert_eq!(State::at(10, Some(5), Some(10)), State::Expired);
        assert_eq!(State::next_change(10, Some(20), Some(30)), Some(20));
        assert_eq!(State::next_change(25, Some(20), Some(30)), Some(30));
        assert_eq!(State::next_change(35, Some(20), Some(30)), None);
    }

    #[test]
    fn a_restore_is_a_new_version_and_history_stays() {
        let mut vs = Vec::new();
        push_version(&mut vs, FileVersion { key: "a".into(), ..Default::default() });
        push_version(&mut vs, FileVersion { key: "b".into(), ..Default::default() });
        let n = push_version(&mut vs, FileVersion { key: "a".into(), restored_from: Some(1), ..Default::default() });
        assert_eq!((n, vs.len(), vs[2].key.as_str()), (3, 3, "a"));
    }

    #[test]
    fn folders_form_a_tree_and_a_folder_holds_its_subfolders() {
        let f = [
            ("t", "Technical", None),
            ("s", "Sales", None),
            ("d", "Datasheets", Some("t")),
            ("r", "Routers", Some("d")),
            ("o", "Orphan", Some("gone")),
            ("x", "Loop A", Some("y")),
            ("y", "Loop B", Some("x")),
        ];
        let order: Vec<(&str, usize)> = tree(&f).into_iter().map(|(id, _, d)| (id, d)).collect();
        assert_eq!(order, vec![("o", 0), ("s", 0), ("t", 0), ("d", 1), ("r", 2), ("x", 0), ("y", 0)]);
        let mut inside = within(&f, "t");
        inside.sort();
        assert_eq!(inside, vec!["d", "r", "t"]);
        assert_eq!(within(&f, "x").len(), 2, "a loop ends");
    }
}
