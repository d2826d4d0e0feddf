//! The admin's pages beside the sync page:
//!
//! - **the mapping editor** (`/p/crm-…/mapping`): for each portal record kind, the CRM object it syncs to and,
//!   for each portal field, a choice of the CRM fields it can be written to, read from the CRM's own schema
//!   (custom fields included, incompatible types left out); the deal's statuses against the CRM's stages. A
//!   mapping is saved only when it fits the schema; otherwise each problem is shown at the field it concerns and
//!   nothing the admin chose is lost;
//! - **the import** (`/p/crm-…/import`): opportunities of the CRM that no deal is linked to, to bring in as deals
//!   of a chosen partner (see [`engine::import`]).

use std::collections::BTreeMap;

use portico_sdk::prelude::*;
use serde_json::Value;

use crate::connector::with_session;
use crate::engine::{self, Connector, HostHttp, IMPORT_LIMIT};
use crate::retry::Failure;
use crate::schema::{CrmField, Entity, Kind, Mapping, ObjectMapping, PORTAL_FIELDS, STAGE_STATUSES, compatible};

/// Reads the schemas of `objects` from the CRM (each object once): the fields of each, or why there are none;
/// `Err` when the CRM cannot be asked at all.
/// Each object's fields, or why there are none.
type Schemas = BTreeMap<String, Result<Vec<CrmField>, String>>;

fn describe_all<C: Connector>(objects: &[&str]) -> Result<Result<Schemas, String>, Error> {
    let (mut state, rev) = engine::load_state()?;
    let mut crm = match engine::connect::<C>(&state) {
        Ok(c) => c,
        Err(f) => return Ok(Err(f.message())),
    };
    let (mut t, mut refreshed) = (HostHttp, Vec::new());
    let mut out = BTreeMap::new();
    let mut failure = None;
    for object in objects {
        if out.contains_key(*object) {
            continue;
        }
        match with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, object)) {
            Ok(fields) => {
                out.insert(object.to_string(), Ok(fields));
            }
            Err(Failure::NotFound(_)) => {
                out.insert(object.to_string(), Err(format!("{} has no object {object}", C::NAME)));
            }
            Err(f) => {
                failure = Some(f.message());
                break;
            }
        }
    }
    engine::keep_session(&crm, &refreshed, &mut state)?;
    engine::save_state(&state, rev)?;
    Ok(failure.map_or(Ok(out), Err))
}

/// The mapping a submitted editor form describes: every record kind the form enables, with the fields chosen for
/// it, and the status chosen for each CRM stage (in the CRM's order).
pub fn mapping_from_form(req: &Request, defaults: &Mapping) -> Mapping {
    let field = |name: &str| req.field(name).map(str::trim).filter(|v| !v.is_empty());
    let mut objects = Vec::new();
    for entity in Entity::ALL {
        let key = entity.key();
        if entity != Entity::Deal && field(&format!("{key}.enabled")).is_none() {
            continue;
        }
        let object = field(&format!("{key}.object"))
            .map(String::from)
            .or_else(|| defaults.object(entity).map(|o| o.object.clone()))
            .unwrap_or_default();
        let fields = PORTAL_FIELDS
            .iter()
            .filter(|f| f.entity == entity)
            .filter_map(|f| Some((f.key.to_string(), field(&format!("{key}.{}", f.key))?.to_string())))
            .collect();
        let external_id = field(&format!("{key}.external_id")).map(String::from);
        objects.push(ObjectMapping { entity, object, fields, external_id });
    }
    let mut stages = Vec::new();
    for i in 0.. {
        let Some(value) = req.field(&format!("stage.{i}.value")) else { break };
        if let Some(status) = field(&format!("stage.{i}.status")) {
            stages.push((value.to_string(), status.to_string()));
        }
    }
    Mapping { objects, stages }
}

/// The mapping editor.
pub fn mapping_page<C: Connector>(req: &Request, title: &str) -> Result<Response, Error> {
    let defaults = C::default_mapping();
    let (state, _) = engine::load_state()?;
    let mut shown = engine::mapping::<C>(&state);
    let mut flash = None;
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    if req.method == "POST" {
        let m = mapping_from_form(req, &defaults);
        flash = Some(match engine::save_mapping::<C>(m.clone()) {
            Ok(Ok(())) => serde_json::json!({ "ok": true, "message": "Mapping saved: the next sync uses it." }),
            Ok(Err(problems)) => {
                for p in problems {
                    errors.entry(p.field).and_modify(|e| *e = format!("{e}; {}", p.message)).or_insert(p.message);
                }
                serde_json::json!({ "ok": false, "message": "Not saved: correct the fields marked below." })
            }
            Err(Error::Unavailable(why)) => {
                serde_json::json!({ "ok": false, "message": format!("Not saved: {} could not be asked ({why}).", C::NAME) })
            }
            Err(e) => return Err(e),
        });
        shown = m;
    }
    // Each record kind's object: the one shown, or the default for a kind not synced (to offer it).
    let objects: Vec<(Entity, bool, ObjectMapping)> = Entity::ALL
        .iter()
        .filter_map(|e| match shown.object(*e) {
            Some(om) => Some((*e, true, om.clone())),
            None => defaults.object(*e).map(|om| (*e, false, ObjectMapping { fields: Vec::new(), ..om.clone() })),
        })
        .collect();
    let names: Vec<&str> = objects.iter().map(|(_, _, om)| om.object.as_str()).collect();
    let schemas = describe_all::<C>(&names)?;
    let (schemas, schema_error) = match schemas {
        Ok(s) => (s, None),
        Err(why) => (BTreeMap::new(), Some(why)),
    };
    let mut stage_values: Vec<String> = Vec::new();
    let entities: Vec<Value> = objects
        .iter()
        .map(|(entity, enabled, om)| {
            let key = entity.key();
            let crm_fields: &[CrmField] = schemas.get(&om.object).and_then(|r| r.as_ref().ok()).map_or(&[], |f| f);
            let fields: Vec<Value> = PORTAL_FIELDS
                .iter()
                .filter(|f| f.entity == *entity)
                .map(|pf| {
                    let selected = om.fields.iter().find(|(k, _)| k == pf.key).map(|(_, f)| f.clone());
                    let mut options: Vec<Value> = crm_fields
                        .iter()
                        .filter(|cf| compatible(pf.kind, &cf.kind) && (cf.createable || cf.updateable))
                        .map(|cf| serde_json::json!({ "name": cf.name, "label": cf.label, "custom": cf.custom }))
                        .collect();
                    // A saved choice the schema no longer offers stays visible, so the problem can be seen.
                    if let Some(s) = &selected
                        && !options.iter().any(|o| o["name"] == s.as_str())
                    {
                        options.push(serde_json::json!({ "name": s, "label": s, "custom": false }));
                    }
                    if *entity == Entity::Deal
                        && pf.key == "stage"
                        && let Some(Kind::Picklist(values)) = selected
                            .as_deref()
                            .and_then(|s| crm_fields.iter().find(|f| f.name.eq_ignore_ascii_case(s)))
                            .map(|f| &f.kind)
                    {
                        stage_values = values.clone();
                    }
                    let id = format!("{key}.{}", pf.key);
                    serde_json::json!({ "key": pf.key, "label": pf.label, "id": id, "selected": selected,
                                        "options": options, "error": errors.get(&id) })
                })
                .collect();
            let keys: Vec<&str> =
                crm_fields.iter().filter(|f| f.external_id && matches!(f.kind, Kind::Text)).map(|f| f.name.as_str()).collect();
            serde_json::json!({
                "key": key, "label": entity.label(), "enabled": enabled, "optional": *entity != Entity::Deal,
                "object": om.object, "external_id": om.external_id, "external_options": keys, "fields": fields,
                "error": errors.get(key).cloned().or_else(|| schemas.get(&om.object).and_then(|r| r.as_ref().err().cloned())),
                "external_error": errors.get(&format!("{key}.external_id")),
            })
        })
        .collect();
    // The stages: the CRM's values in its order, each with the status it means, then any mapped value the CRM
    // does not list (so its problem shows).
    for (value, _) in &shown.stages {
        if !stage_values.contains(value) {
            stage_values.push(value.clone());
        }
    }
    let stages: Vec<Value> =
        stage_values.iter().map(|v| serde_json::json!({ "value": v, "status": shown.status_for(v) })).collect();
    let stage_errors: Vec<&String> =
        errors.iter().filter(|(k, _)| k.as_str() == "stages" || k.starts_with("stages.")).map(|(_, m)| m).collect();
    Ok(Response::page(
        "mapping.html",
        title,
        &serde_json::json!({
            "crm": C::NAME, "base": format!("/p/{}/", C::PLUGIN), "flash": flash, "entities": entities,
            "stages": stages, "statuses": STAGE_STATUSES, "stage_errors": stage_errors, "schema_error": schema_error,
            "saved": state.mapping.is_some(),
        }),
    ))
}

/// The import: the opportunities on offer, a partner to import them for, and the outcome of the last import.
pub fn import_page<C: Connector>(ctx: &Context, req: &Request, title: &str) -> Result<Response, Error> {
    let mut flash = None;
    let mut errors: BTreeMap<&str, String> = BTreeMap::new();
    let chosen_org = req.field("org_id").unwrap_or_default().to_string();
    if req.method == "POST" {
        let ids: Vec<String> = req.form.iter().filter(|(k, _)| k == "ids").map(|(_, v)| v.clone()).collect();
        match engine::import::<C>(&chosen_org, &ids) {
            Ok(r) => {
                let skipped = r["skipped"].as_array().map_or(0, Vec::len);
                let message = format!(
                    "{} opportunit{} handed to deal registration for {}{}.",
                    r["queued"],
                    if r["queued"] == 1 { "y" } else { "ies" },
                    r["org"].as_str().unwrap_or_default(),
                    if skipped > 0 { format!("; {skipped} not imported (see below)") } else { String::new() }
                );
                flash = Some(serde_json::json!({ "ok": true, "message": message, "skipped": r["skipped"] }));
            }
            Err(Error::Invalid(e)) => {
                let field = if e.field.as_deref() == Some("org_id") { "org_id" } else { "ids" };
                errors.insert(field, e.message);
                flash = Some(
                    serde_json::json!({ "ok": false, "message": "Nothing imported: correct the fields marked below." }),
                );
            }
            Err(Error::Unavailable(why)) => {
                flash = Some(serde_json::json!({ "ok": false, "message": format!("Nothing imported: {why}") }));
            }
            Err(e) => return Err(e),
        }
    }
    let orgs: Vec<Value> = portico_sdk::directory::list_orgs(None)?
        .into_iter()
        .filter(|o| !o.is_vendor)
        .map(|o| serde_json::json!({ "id": o.id, "name": o.name }))
        .collect();
    let (candidates, candidates_error) = match engine::import_candidates::<C>(ctx)? {
        Ok(c) => (c, None),
        Err(why) => (Vec::new(), Some(why)),
    };
    Ok(Response::page(
        "import.html",
        title,
        &serde_json::json!({
            "crm": C::NAME, "base": format!("/p/{}/", C::PLUGIN), "flash": flash, "errors": errors, "orgs": orgs,
            "org_id": chosen_org, "candidates": candidates, "candidates_error": candidates_error, "limit": IMPORT_LIMIT,
        }),
    ))
}
