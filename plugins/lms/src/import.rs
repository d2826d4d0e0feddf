//! Courses made from what vendors already have: a SCORM 1.2 package (a zip with `imsmanifest.xml`, unpacked by the
//! host into a tree of the plugin's files), or a folder of Markdown files with YAML front matter (uploaded as the
//! folder's files, or as a zip of it). Either becomes a draft, which staff preview and publish like any other.
//!
//! The Markdown folder:
//! - `course.md` (or `index.md`, `_index.md`, `README.md`) describes the course: front matter `title`, `tags`,
//!   `minutes`, `prerequisites`, `required_for`, `certification` (`name`, `validity_months`, `window_days`);
//!   its text is the summary.
//! - Every other `.md` file is a lesson, in `order` (front matter) and then file-name order (`01-intro.md`).
//!   Front matter: `title` (else the first `# heading`, else the file name), `id` (else the file name without its
//!   number), `kind`: `text` (the default; the text is the lesson), `video` with `url`, or `quiz` with
//!   `pass_percent`, `retake` and `questions` (each a `prompt`, `kind` single or multiple, and `choices` of
//!   `text` and `correct`).

use portico_sdk::Value;
use portico_sdk::files::{self, FileInfo};
use portico_sdk::prelude::*;
use portico_sdk::storage::Record;
use serde::Deserialize;

use crate::course::{Content, Lesson};
use crate::learn::{self, Actor, CertSpec, Course, Draft};
use crate::quiz::{Choice, Problem, Question, QuestionKind, Quiz, Retake};

/// Splits a Markdown file into its front matter (a YAML mapping between `---` lines at the very top) and text.
pub fn front_matter(text: &str) -> Result<(Value, &str), String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = text.strip_prefix("---\n").or_else(|| text.strip_prefix("---\r\n")) else {
        return Ok((Value::Object(Default::default()), text));
    };
    let end = rest
        .match_indices("\n---")
        .find(|(i, _)| rest[i + 4..].starts_with('\n') || rest[i + 4..].starts_with("\r\n") || rest.len() == i + 4)
        .map(|(i, _)| i)
        .ok_or("the front matter has no closing ---")?;
    let yaml = &rest[..end];
    let body = rest[end + 4..].trim_start_matches(['\r', '\n']);
    let value: Value = if yaml.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_yaml_ng::from_str(yaml).map_err(|e| format!("the front matter is not valid YAML: {e}"))?
    };
    if !value.is_object() {
        return Err("the front matter is not a set of key: value lines".into());
    }
    Ok((value, body))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CourseMatter {
    title: String,
    tags: Vec<String>,
    minutes: u32,
    prerequisites: Vec<String>,
    required_for: Vec<String>,
    certification: Option<CertSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChoiceMatter {
    text: String,
    #[serde(default)]
    correct: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionMatter {
    prompt: String,
    #[serde(default)]
    kind: Option<QuestionKind>,
    choices: Vec<ChoiceMatter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LessonMatter {
    title: Option<String>,
    id: Option<String>,
    order: Option<i64>,
    kind: Option<String>,
    url: Option<String>,
    pass_percent: Option<u32>,
    retake: Option<Retake>,
    questions: Vec<QuestionMatter>,
}

const COURSE_FILES: &[&str] = &["course.md", "index.md", "_index.md", "readme.md"];

/// A lesson id from a file name: `02-Setting up.md` → `setting-up`.
fn id_from(name: &str) -> String {
    let stem = name.rsplit('/').next().unwrap_or(name).trim_end_matches(".md").trim_end_matches(".markdown");
    let stem = stem.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start_matches(['-', '_', ' ', '.']);
    let mut id = String::new();
    for c in stem.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            id.push(c);
        } else if !id.ends_with('-') && !id.is_empty() {
            id.push('-');
        }
    }
    let id = id.trim_end_matches('-').to_string();
    if id.is_empty() { "lesson".into() } else { id }
}

/// The first `# heading` of a Markdown text, if it starts with one.
fn heading(text: &str) -> Option<String> {
    text.lines().find(|l| !l.trim().is_empty()).and_then(|l| l.strip_prefix("# ")).map(|t| t.trim().to_string())
}

/// A course draft from a folder of Markdown files (`(file name, text)`), or every problem found, each at its file.
pub fn course_from_markdown(files: &[(String, String)]) -> Result<Draft, Vec<Problem>> {
    let mut problems: Vec<Problem> = Vec::new();
    let at = |file: &str, message: String| Problem { field: file.to_string(), message };
    let is_md = |n: &str| {
        let n = n.to_ascii_lowercase();
        n.ends_with(".md") || n.ends_with(".markdown")
    };
    let base = |n: &str| n.rsplit('/').next().unwrap_or(n).to_ascii_lowercase();
    let mut draft = Draft::default();
    let mut lessons: Vec<(i64, String, Lesson)> = Vec::new();
    let course_file = COURSE_FILES.iter().find_map(|c| files.iter().find(|(n, _)| base(n) == *c));
    if let Some((name, text)) = course_file {
        match front_matter(text).and_then(|(v, body)| {
            serde_json::from_value::<CourseMatter>(v).map(|m| (m, body)).map_err(|e| e.to_string())
        }) {
            Ok((m, body)) => {
                draft.title = if m.title.trim().is_empty() { heading(body).unwrap_or_default() } else { m.title };
                draft.summary = body.trim().to_string();
                draft.tags = m.tags;
                draft.minutes = m.minutes;
                draft.prerequisites = m.prerequisites;
                draft.required_for = m.required_for;
                draft.certification = m.certification;
            }
            Err(e) => problems.push(at(name, e)),
        }
    }
    for (name, text) in files {
        if !is_md(name) || course_file.is_some_and(|(c, _)| c == name) {
            continue;
        }
        let parsed = front_matter(text).and_then(|(v, body)| {
            serde_json::from_value::<LessonMatter>(v).map(|m| (m, body)).map_err(|e| e.to_string())
        });
        let (m, body) = match parsed {
            Ok(p) => p,
            Err(e) => {
                problems.push(at(name, e));
                continue;
            }
        };
        let title = m.title.clone().or_else(|| heading(body)).unwrap_or_else(|| id_from(name).replace('-', " "));
        let content = match m.kind.as_deref().unwrap_or("text") {
            "text" => Content::Text { markdown: body.trim().to_string() },
            "video" => Content::Video { blob: None, url: m.url.clone() },
            "quiz" => {
                let questions = m
                    .questions
                    .iter()
                    .enumerate()
                    .map(|(qi, q)| {
                        let many = q.choices.iter().filter(|c| c.correct).count() > 1;
                        Question {
                            id: format!("q{}", qi + 1),
                            prompt: q.prompt.clone(),
                            kind: q.kind.unwrap_or(if many { QuestionKind::Multiple } else { QuestionKind::Single }),
                            choices: q
                                .choices
                                .iter()
                                .enumerate()
                                .map(|(ci, c)| Choice {
                                    id: char::from(b'a' + (ci as u8 % 26)).to_string(),
                                    text: c.text.clone(),
                                    correct: c.correct,
                                })
                                .collect(),
                        }
                    })
                    .collect();
                Content::Quiz(Quiz {
                    questions,
                    pass_percent: m.pass_percent.unwrap_or(70),
                    retake: m.retake.unwrap_or(Retake::Unlimited),
                })
            }
            other => {
                problems.push(at(name, format!("kind {other:?} is not text, video or quiz")));
                continue;
            }
        };
        let id = m.id.clone().unwrap_or_else(|| id_from(name));
        lessons.push((m.order.unwrap_or(i64::MAX), base(name), Lesson { id, title, content }));
    }
    lessons.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    draft.lessons = lessons.into_iter().map(|(_, _, l)| l).collect();
    if draft.lessons.is_empty() && problems.is_empty() {
        problems.push(at("files", "no Markdown lessons (.md files) among the files".into()));
    }
    if draft.title.trim().is_empty() && problems.is_empty() {
        problems.push(at("files", "give the course a title: a course.md with `title:` in its front matter".into()));
    }
    if problems.is_empty() { Ok(draft) } else { Err(problems) }
}

/// Most files a SCORM package may hold, and bytes it may unpack to.
const SCORM_MAX_FILES: u32 = 5_000;
const SCORM_MAX_BYTES: u64 = 2 << 30;
/// Most bytes of one Markdown file.
const MARKDOWN_MAX_BYTES: u64 = 1 << 20;

/// What an archive refused by the host, or a problem found in a package, says to the vendor.
fn refusal(e: Error) -> Result<String, Error> {
    match e {
        Error::Invalid(f) => Ok(f.message),
        other => Err(other),
    }
}

/// A draft course of one SCORM lesson from an uploaded package; the inner error, in words, when the package cannot
/// be used (nothing of it is then kept).
pub fn scorm_course(ctx: &Context, actor: &Actor, upload: &FileInfo) -> Result<Result<Record<Course>, String>, Error> {
    if upload.content_type != "application/zip" {
        return Ok(Err(format!("{} is not a zip archive", upload.filename)));
    }
    let tree = match files::unpack(&upload.key, SCORM_MAX_FILES, SCORM_MAX_BYTES) {
        Ok(t) => t,
        Err(e) => return refusal(e).map(Err),
    };
    let has_manifest = tree.entries.iter().any(|e| e.path == "imsmanifest.xml");
    let xml =
        if has_manifest { files::read(&format!("{}/imsmanifest.xml", tree.key), 0, 4 << 20)? } else { Vec::new() };
    let checked = (|| -> Result<crate::scorm::Launch, String> {
        if !has_manifest {
            return Err("the package has no imsmanifest.xml at its top level (zip the package's contents, not the \
                        folder holding them)"
                .into());
        }
        let launch = crate::scorm::launch(&String::from_utf8_lossy(&xml))?;
        let page = launch.href.split(['?', '#']).next().unwrap_or_default();
        if !tree.entries.iter().any(|e| e.path == page) {
            return Err(format!("the manifest launches {page}, which the package does not hold"));
        }
        Ok(launch)
    })();
    let launch = match checked {
        Ok(l) => l,
        Err(m) => {
            files::delete(&tree.key)?;
            return Ok(Err(m));
        }
    };
    let title = if launch.title.is_empty() {
        upload.filename.trim_end_matches(".zip").to_string()
    } else {
        launch.title.clone()
    };
    let lesson = if launch.item.is_empty() { title.clone() } else { launch.item.clone() };
    let draft = Draft {
        title,
        summary: format!("Imported from the SCORM 1.2 package {}.", upload.filename),
        lessons: vec![Lesson {
            id: "sco".into(),
            title: lesson,
            content: Content::Scorm { tree: tree.key, launch: launch.href },
        }],
        ..Default::default()
    };
    learn::create(ctx, actor, draft).map(Ok)
}

/// A draft course from a folder of Markdown files (uploaded as its files, or zipped); the problems at their files
/// when they do not make a course.
pub fn markdown_course(
    ctx: &Context,
    actor: &Actor,
    uploads: &[FileInfo],
) -> Result<Result<Record<Course>, Vec<Problem>>, Error> {
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut problems = Vec::new();
    // One file's text, or a problem with it.
    let read = |name: &str, key: &str, size: u64| -> Result<Result<(String, String), Problem>, Error> {
        let problem = |message: &str| Problem { field: name.into(), message: message.into() };
        if size > MARKDOWN_MAX_BYTES {
            return Ok(Err(problem("is longer than 1 MiB")));
        }
        Ok(String::from_utf8(files::read(key, 0, size as u32)?)
            .map(|text| (name.to_string(), text))
            .map_err(|_| problem("is not UTF-8 text")))
    };
    for u in uploads {
        if u.content_type == "application/zip" {
            let tree = match files::unpack(&u.key, 500, 64 << 20) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(Problem { field: u.filename.clone(), message: refusal(e)? });
                    continue;
                }
            };
            for e in tree.entries.iter().filter(|e| e.path.ends_with(".md") || e.path.ends_with(".markdown")) {
                match read(&e.path, &format!("{}/{}", tree.key, e.path), e.size)? {
                    Ok(t) => texts.push(t),
                    Err(p) => problems.push(p),
                }
            }
            // The text is all a Markdown course keeps.
            files::delete(&tree.key)?;
        } else {
            match read(&u.filename, &u.key, u.size)? {
                Ok(t) => texts.push(t),
                Err(p) => problems.push(p),
            }
        }
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    match course_from_markdown(&texts) {
        Ok(draft) => learn::create(ctx, actor, draft).map(Ok),
        Err(p) => Ok(Err(p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, text: &str) -> (String, String) {
        (name.to_string(), text.to_string())
    }

    #[test]
    fn front_matter_is_split_from_the_text() {
        let (v, body) = front_matter("---\ntitle: Hello\ntags: [a, b]\n---\n# Body\n").unwrap();
        assert_eq!((v["title"].as_str(), v["tags"][1].as_str(), body), (Some("Hello"), Some("b"), "# Body\n"));
        let (v, body) = front_matter("No matter").unwrap();
        assert_eq!((v, body), (json!({}), "No matter"));
        assert!(front_matter("---\ntitle: x\n").unwrap_err().contains("closing"));
        assert!(front_matter("---\n- a list\n---\n").unwrap_err().contains("key: value"));
    }

    #[test]
    fn a_folder_becomes_a_course_in_file_order() {
        let files = vec![
            f(
                "course.md",
                "---\ntitle: Firewall basics\ntags: [security]\nminutes: 30\ncertification:\n  name: Firewall Associate\n  validity_months: 12\n  window_days: 30\n---\nWhat every engineer needs.",
            ),
            f("02-rules.md", "# Writing rules\n\nAllow, then deny."),
            f("01-Why firewalls.md", "---\nid: why\n---\nBecause."),
            f(
                "03-check.md",
                "---\ntitle: Check\nkind: quiz\npass_percent: 50\nretake: { policy: attempts, max: 2 }\nquestions:\n  - prompt: Default policy?\n    choices:\n      - text: Deny\n        correct: true\n      - text: Allow\n---\n",
            ),
            f("notes.txt", "ignored"),
        ];
        let d = course_from_markdown(&files).unwrap();
        assert_eq!(
            (d.title.as_str(), d.minutes, d.summary.as_str()),
            ("Firewall basics", 30, "What every engineer needs.")
        );
        assert_eq!(d.certification.as_ref().map(|c| c.name.as_str()), Some("Firewall Associate"));
        let ids: Vec<(&str, &str)> = d.lessons.iter().map(|l| (l.id.as_str(), l.title.as_str())).collect();
        assert_eq!(ids, [("why", "why firewalls"), ("rules", "Writing rules"), ("check", "Check")]);
        let Content::Quiz(q) = &d.lessons[2].content else { panic!("a quiz") };
        assert_eq!(
            (q.pass_percent, q.retake, q.questions[0].kind),
            (50, Retake::Attempts { max: 2 }, QuestionKind::Single)
        );
        assert!(q.questions[0].choices[0].correct && q.check().is_empty());
    }

    #[test]
    fn problems_name_their_file() {
        let files = vec![
            f("course.md", "---\ntitle: T\ncolour: red\n---\n"),
            f("a.md", "---\nkind: podcast\n---\n"),
            f("b.md", "---\ntitle: [unclosed\n---\n"),
        ];
        let p = course_from_markdown(&files).unwrap_err();
        let at: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(at, ["course.md", "a.md", "b.md"], "{p:?}");
        assert!(p[0].message.contains("colour") && p[1].message.contains("podcast"));
        assert_eq!(course_from_markdown(&[f("x.txt", "")]).unwrap_err()[0].field, "files");
    }
}
