//! The demo tenant of DESIGN.md: Acme Networks with two programs, three partner orgs and six users, all with
//! the password `portico-demo`.

use crate::auth::hash_password;
use crate::domain::{ListQuery, OrgKind, OrgProfile, Role, UserStatus};
use crate::storage::{Db, NewTenant, NewUser, StorageError};

pub const DEMO_PASSWORD: &str = "portico-demo";

/// The demo sign-ins, as printed on start-up.
pub const DEMO_USERS: [(&str, &str, Role); 6] = [
    ("admin@acme.example", "Ada Admin", Role::VendorAdmin),
    ("manager@acme.example", "Max Manager", Role::ChannelManager),
    ("alice@northwind.example", "Alice Northwind", Role::PartnerAdmin),
    ("bob@northwind.example", "Bob Northwind", Role::PartnerUser),
    ("carol@fabrikam.example", "Carol Fabrikam", Role::PartnerAdmin),
    ("dave@contoso.example", "Dave Contoso", Role::PartnerAdmin),
];

/// Seeds the demo tenant unless `acme` exists. Returns whether it seeded. A seed ends by writing the
/// `demo.seeded` audit entry; an `acme` without it is what a seed stopped part-way left (the process was killed),
/// so it is deleted and seeded again rather than served half-made.
pub async fn seed(db: &Db) -> Result<bool, StorageError> {
    if let Some(existing) = db.tenant_by_slug("acme").await? {
        if db.tenant(&existing.id).has_audit("demo.seeded").await? {
            return Ok(false);
        }
        tracing::warn!("the demo tenant was left half-seeded; seeding it again");
        db.delete_tenant(&existing.id).await?;
    }
    let tenant =
        db.create_tenant(&NewTenant { slug: "acme".into(), name: "Acme Networks".into(), domain: None }).await?;
    let mut branding = tenant.branding.clone();
    branding.portal_name = "Acme Partner Portal".into();
    let scope = db.tenant(&tenant.id);
    scope.update_branding("default", &branding).await?;
    let profile = |name: &str, web: &str, email: &str, addr: &str| OrgProfile {
        name: name.into(),
        website: web.into(),
        address: addr.into(),
        phone: "+1 555 0100".into(),
        contact_email: email.into(),
    };
    let vendor = scope
        .create_org(
            OrgKind::Vendor,
            &profile("Acme Networks", "https://acme.example", "channel@acme.example", "1 Acme Way, Springfield"),
        )
        .await?;
    let northwind = scope
        .create_org(
            OrgKind::Partner,
            &profile(
                "Northwind Solutions",
                "https://northwind.example",
                "sales@northwind.example",
                "12 Harbour St, Seattle, WA",
            ),
        )
        .await?;
    let fabrikam = scope
        .create_org(
            OrgKind::Partner,
            &profile("Fabrikam Systems", "https://fabrikam.example", "hello@fabrikam.example", "4 Mill Rd, Leeds, UK"),
        )
        .await?;
    let contoso = scope
        .create_org(
            OrgKind::Partner,
            &profile(
                "Contoso Managed Services",
                "https://contoso.example",
                "msp@contoso.example",
                "88 Rue de Lyon, Paris",
            ),
        )
        .await?;
    let tiers = |names: &[&str]| names.iter().map(|n| (n.to_lowercase(), n.to_string())).collect::<Vec<_>>();
    let reseller = scope
        .create_program(
            "reseller",
            "Reseller",
            "Resell Acme hardware and subscriptions.",
            &tiers(&["Registered", "Silver", "Gold"]),
        )
        .await?;
    let msp = scope
        .create_program("msp", "MSP", "Deliver Acme networking as a managed service.", &tiers(&["Member", "Premier"]))
        .await?;
    let tier = |p: &crate::domain::Program, key: &str| {
        p.tiers.iter().find(|t| t.key == key).map(|t| t.id.clone()).expect("demo tier")
    };
    scope.enrol(&northwind.id, &reseller.id, &tier(&reseller, "gold")).await?;
    scope.enrol(&fabrikam.id, &reseller.id, &tier(&reseller, "registered")).await?;
    scope.enrol(&contoso.id, &msp.id, &tier(&msp, "member")).await?;
    let hash = tokio::task::spawn_blocking(|| hash_password(DEMO_PASSWORD)).await.expect("hashing task");
    for (email, name, role) in DEMO_USERS {
        let org = match email.split('@').nth(1) {
            Some("acme.example") => &vendor,
            Some("northwind.example") => &northwind,
            Some("fabrikam.example") => &fabrikam,
            _ => &contoso,
        };
        scope
            .create_user(&NewUser {
                org_id: org.id.clone(),
                email: email.into(),
                name: name.into(),
                role,
                status: UserStatus::Active,
                password_hash: Some(hash.clone()),
            })
            .await?;
    }
    scope.audit(None, "demo.seeded", "acme", "").await?;
    Ok(true)
}

/// Gives two of the demo's partners a logo (Fabrikam has none, so co-branding's batch run has one to list).
pub async fn logos(state: &crate::AppState) -> anyhow::Result<()> {
    let Some(tenant) = state.db.tenant_by_slug("acme").await? else { return Ok(()) };
    let scope = state.db.tenant(&tenant.id);
    let logos: [(&str, &[u8]); 2] = [
        ("Northwind Solutions", include_bytes!("../demo/northwind-logo.png")),
        ("Contoso Managed Services", include_bytes!("../demo/contoso-logo.png")),
    ];
    for (name, bytes) in logos {
        let found = scope.list_partner_orgs(&ListQuery { q: name.into(), page: None }).await?;
        let Some(org) = found.items.iter().find(|o| o.name == name) else { continue };
        if org.logo_key.is_some() {
            continue;
        }
        let key = format!("tenants/{}/orgs/{}/logo-{}.png", tenant.id, org.id, crate::domain::new_id());
        state.blobs.put(&key, bytes.to_vec()).await?;
        scope.set_org_logo(&org.id, Some(&key)).await?;
    }
    Ok(())
}

/// Installs (or upgrades) every bundled plugin found under `root` — `plugins/*/` and the SDK example, with their
/// components from `target/wasm32-wasip2/plugin/` (under `$CARGO_TARGET_DIR` when set, as cargo builds them) —
/// for the demo tenant, and enables each in every program. A plugin whose component was not built is skipped with
/// a note.
pub async fn install_bundled(state: &crate::AppState, root: &std::path::Path) -> anyhow::Result<()> {
    let Some(tenant) = state.db.tenant_by_slug("acme").await? else { return Ok(()) };
    let mut dirs: Vec<std::path::PathBuf> =
        std::fs::read_dir(root.join("plugins")).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    dirs.push(root.join("sdk/example"));
    dirs.sort();
    if !dirs.iter().any(|d| d.join("plugin.toml").exists()) {
        println!(
            "  (no bundled plugins under {}: run `portico demo` from the repository to install them)",
            root.display()
        );
    }
    // The partner users' past activity comes first, on a tenant without plugins: it is history for the channel
    // figures, not events for plugins to act on now (points for days long gone).
    let tenant_now = state.db.tenant_by_slug("acme").await?.unwrap_or_else(|| tenant.clone());
    if state.db.tenant(&tenant.id).installed_plugins().await?.is_empty() {
        activity_history(state, &tenant_now).await?;
    }
    // Every plugin is installed and enabled before any sample data is made, so the events one plugin's sample data
    // raises reach every plugin that subscribes to them (deal registration's deals reach MDF's ROI).
    let mut fresh = Vec::new();
    for dir in dirs.into_iter().filter(|d| d.join("plugin.toml").exists() && d.join("Cargo.toml").exists()) {
        let cargo = std::fs::read_to_string(dir.join("Cargo.toml"))?;
        let Some(name) = cargo.lines().find_map(|l| l.strip_prefix("name = \"").and_then(|r| r.strip_suffix('"')))
        else {
            continue;
        };
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |t| root.join(t));
        let wasm = target.join("wasm32-wasip2/plugin").join(format!("{}.wasm", name.replace('-', "_")));
        if !wasm.exists() {
            println!("  (skipping {}: run ./scripts/build-plugins to build it)", dir.display());
            continue;
        }
        let bytes = crate::cli::read_package(&dir, Some(&wasm))?;
        match crate::plugins::install(state, &tenant, &bytes, None).await {
            Ok((p, outcome)) => {
                crate::cli::set_enabled(state, &tenant, &p.plugin_id, None, true).await?;
                println!("Installed plugin {} {}", p.plugin_id, p.version);
                if matches!(outcome, crate::plugins::Installed::New) && dir.join("demo.json").exists() {
                    fresh.push((p.plugin_id.clone(), dir.join("demo.json")));
                }
            }
            Err(crate::plugins::LifecycleError::SameVersion { .. }) => {}
            Err(e) => println!("  (plugin {} not installed: {e})", dir.display()),
        }
    }
    // The tenant as it is now: enabling plugins changed it, and which plugins are active is cached per tenant
    // version (a stale one would not know them).
    let now = state.db.tenant_by_slug("acme").await?.unwrap_or_else(|| tenant.clone());
    let today = chrono::Utc::now().date_naive();
    for (plugin_id, file) in fresh {
        println!("Sample data for {plugin_id}");
        sample_data(state, &now, &plugin_id, &file, today).await?;
    }
    Ok(())
}

/// The demo's partner users were active on some days of the last four months (more often lately), recorded as each
/// day's first request would have recorded it, so the channel dashboard's active figures have a history.
async fn activity_history(state: &crate::AppState, tenant: &crate::domain::Tenant) -> anyhow::Result<()> {
    let scope = state.db.tenant(&tenant.id);
    let now = state.clock.now_ms();
    for (i, (email, _, _)) in DEMO_USERS.iter().enumerate().filter(|(_, u)| !u.2.is_vendor()) {
        let Some(user) = scope.user_by_email(email).await? else { continue };
        for days_ago in (1..120i64).rev().filter(|d| (d * 7 + i as i64 * 3) % 11 < if *d < 30 { 6 } else { 3 }) {
            scope.record_daily_activity(&user, now - days_ago * 86_400_000).await?;
        }
    }
    Ok(())
}

/// `{date:+N}` and `{date:-N}` in a demo step: the date N days after or before `today` (`2027-01-31`), so sample
/// data with periods and deadlines stays current whenever the demo is made.
fn relative_dates(text: &str, today: chrono::NaiveDate) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("{date:") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 6..];
        let days =
            after.find('}').and_then(|end| Some((after[..end].trim_start_matches('+').parse::<i64>().ok()?, end)));
        match days {
            Some((n, end)) => {
                out.push_str(&(today + chrono::Duration::days(n)).format("%Y-%m-%d").to_string());
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("{date:");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// One request of a plugin's `demo.json`: made through the plugin's JSON API as a demo user.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoStep {
    /// The demo user's email.
    #[serde(rename = "as")]
    user: String,
    method: String,
    /// The path below `/api/v1/p/{plugin}`; `{N}` stands for the `id` in the answer to step N.
    path: String,
    /// The JSON body; a string `"{N}"` in it stands for the `id` in the answer to step N.
    #[serde(default)]
    body: Option<serde_json::Value>,
    /// Files sent with the request as a multipart form's would be (then `body` gives the form's text fields).
    #[serde(default)]
    files: Vec<DemoFile>,
    /// Made as if this many days ago (the call's clock), so the demo's channel figures have a history.
    #[serde(default)]
    days_ago: u32,
}

/// A file of a demo step: one of the plugin's folder (`path`), or a folder of it zipped (`zip`), sent in `field`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoFile {
    field: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    zip: Option<String>,
}

/// A folder's files as a zip, by their paths relative to it.
fn zip_folder(dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() { stack.push(p) } else { files.push(p) }
        }
    }
    files.sort();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for f in files {
        let name = f.strip_prefix(dir)?.to_string_lossy().replace('\\', "/");
        w.start_file(name, zip::write::SimpleFileOptions::default())?;
        w.write_all(&std::fs::read(&f)?)?;
    }
    Ok(w.finish()?.into_inner())
}

/// Stores a demo step's files as the upload handler would, for the plugin to find in `files.uploads`.
async fn demo_uploads(
    state: &crate::AppState,
    tenant_id: &str,
    plugin_id: &str,
    dir: &std::path::Path,
    files: &[DemoFile],
) -> anyhow::Result<Vec<crate::runtime::UploadedFile>> {
    use sha2::Digest;
    let mut out = Vec::new();
    for f in files {
        let (bytes, filename) = match (&f.path, &f.zip) {
            (Some(p), None) => (std::fs::read(dir.join(p))?, p.rsplit('/').next().unwrap_or(p).to_string()),
            (None, Some(z)) => {
                (zip_folder(&dir.join(z))?, format!("{}.zip", z.trim_end_matches('/').rsplit('/').next().unwrap_or(z)))
            }
            _ => anyhow::bail!("a demo file gives either path or zip"),
        };
        let key = format!("tenants/{tenant_id}/plugins/{plugin_id}/uploads/{}", crate::domain::new_id());
        let row = crate::storage::plugin_usage::BlobRow {
            key: key.clone(),
            size: bytes.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(&bytes)),
            content_type: crate::http::upload::sniff(&bytes[..bytes.len().min(8192)]),
            filename,
        };
        state.blobs.put(&key, bytes).await?;
        out.push(crate::runtime::UploadedFile { field: f.field.clone(), row });
    }
    Ok(out)
}

/// Gives a freshly installed plugin its sample data by replaying its `demo.json` through the plugin's own API, as
/// the demo users, so the data is exactly what those users could have entered. A failing step is reported and
/// skipped.
async fn sample_data(
    state: &crate::AppState,
    tenant: &crate::domain::Tenant,
    plugin_id: &str,
    file: &std::path::Path,
    today: chrono::NaiveDate,
) -> anyhow::Result<()> {
    use crate::runtime::{HttpRequest, HttpResponse};
    let steps: Vec<DemoStep> = serde_json::from_str(&std::fs::read_to_string(file)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let scope = state.db.tenant(&tenant.id);
    let mut answers: Vec<serde_json::Value> = Vec::new();
    for (n, step) in steps.into_iter().enumerate() {
        let user = scope
            .user_by_email(&step.user)
            .await?
            .ok_or_else(|| anyhow::anyhow!("demo.json step {n}: no user {}", step.user))?;
        let Some(active) = crate::plugins::active_for(state, tenant, &user, None)
            .await?
            .iter()
            .find(|a| a.plugin.manifest().id == plugin_id)
            .cloned()
        else {
            println!("  (demo step {n}: {plugin_id} is not enabled for {})", step.user);
            answers.push(serde_json::Value::Null);
            continue;
        };
        let mut path = relative_dates(&step.path, today);
        let mut body = relative_dates(&step.body.map(|b| b.to_string()).unwrap_or_default(), today);
        for (i, a) in answers.iter().enumerate() {
            let id = a["id"].as_str().unwrap_or_default();
            path = path.replace(&format!("{{{i}}}"), id);
            body = body.replace(&format!("\"{{{i}}}\""), &serde_json::Value::from(id).to_string());
        }
        let dir = file.parent().unwrap_or(std::path::Path::new("."));
        let uploads = demo_uploads(state, &tenant.id, plugin_id, dir, &step.files).await?;
        // With files, the body's fields are the form's text fields, as a multipart form sends them.
        let form: Vec<(String, String)> = if uploads.is_empty() {
            Vec::new()
        } else {
            let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&body).unwrap_or_default();
            fields.into_iter().map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), String::from))).collect()
        };
        let req = HttpRequest {
            method: step.method,
            path: path.clone(),
            query: Vec::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: if uploads.is_empty() { body.into_bytes() } else { Vec::new() },
            form,
            api: true,
        };
        let uploaded: Vec<String> = uploads.iter().map(|u| u.row.key.clone()).collect();
        let mut inv = crate::plugins::user_invocation(state, tenant, &active, &user, "demo");
        inv.uploads = uploads;
        inv.now_ms -= i64::from(step.days_ago) * 86_400_000;
        let outcome = state.runtime.handle_http(active.plugin.loaded.clone(), inv, req).await;
        crate::http::upload::discard_unkept(state, &uploaded).await;
        let answer = match outcome {
            Ok(Ok(HttpResponse::Json((_, body)))) => serde_json::from_str(&body).unwrap_or_default(),
            // A download (or another step that sends the user on): done, with no answer to refer to.
            Ok(Ok(HttpResponse::Redirect(_))) => serde_json::Value::Null,
            other => {
                println!("  (demo step {n} {path} of {plugin_id} failed: {other:?})");
                serde_json::Value::Null
            }
        };
        answers.push(answer);
    }
    println!("  with sample data ({} requests)", answers.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::relative_dates;

    #[test]
    fn relative_dates_count_from_today() {
        let today = chrono::NaiveDate::from_ymd_opt(2027, 1, 30).unwrap();
        assert_eq!(
            relative_dates(r#"{"starts": "{date:-30}", "ends": "{date:+2}", "at": "{date:0}"}"#, today),
            r#"{"starts": "2026-12-31", "ends": "2027-02-01", "at": "2027-01-30"}"#
        );
        assert_eq!(relative_dates("{date:soon} {other}", today), "{date:soon} {other}");
    }
}
