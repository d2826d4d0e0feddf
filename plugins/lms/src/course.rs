//! Courses, their versions, a learner's progress through one, and the prerequisites of courses and learning paths.
//!
//! - A course is authored as a draft; publishing freezes the draft as a numbered version, which is what learners
//!   take. Editing a published course edits a new draft; publishing it makes the next version current for new
//!   enrolments, while a learner already in progress keeps the version they started (their progress is kept per
//!   version) and finishes it.
//! - Progress is the set of lessons done (a quiz lesson is done when passed); the learner resumes at the first
//!   lesson not done, in the course's order, and the course is complete when every lesson is.
//! - Prerequisites: a course may require other courses completed first; a learning path is an ordered list of
//!   courses, each requiring the ones before it. Both are enforced when a learner enrols.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::quiz::Quiz;

/// What a lesson holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Content {
    /// Markdown, rendered and sanitised when shown.
    Text {
        markdown: String,
    },
    /// A video: uploaded (a file of the plugin's, which the host streams with seeking) or a link to a video
    /// site (shown as a link: the portal embeds no other site's player).
    Video {
        #[serde(default)]
        blob: Option<String>,
        #[serde(default)]
        url: Option<String>,
    },
    /// A file to download (a file of the plugin's), under the name it was uploaded with unless given.
    File {
        blob: String,
        #[serde(default)]
        name: String,
    },
    Quiz(Quiz),
    /// A SCORM 1.2 package, unpacked into a tree of the plugin's files; `launch` is the SCO's path in it.
    Scorm {
        tree: String,
        launch: String,
    },
}

impl Content {
    /// The plugin's file (or tree) the lesson needs, if any.
    pub fn file_key(&self) -> Option<&str> {
        match self {
            Content::Video { blob: Some(k), .. } | Content::File { blob: k, .. } | Content::Scorm { tree: k, .. } => {
                Some(k)
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lesson {
    /// Stable across versions, so progress can be carried and lessons linked.
    pub id: String,
    pub title: String,
    pub content: Content,
}

/// A course's content as one version holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Outline {
    pub title: String,
    pub summary: String,
    pub lessons: Vec<Lesson>,
}

/// A problem keeping a draft from being published, at its field.
pub use crate::quiz::Problem;

impl Outline {
    /// Every problem that keeps this draft from being published.
    pub fn check(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut p = |field: String, message: &str| out.push(Problem { field, message: message.to_string() });
        if self.title.trim().is_empty() {
            p("title".into(), "give the course a title");
        }
        if self.lessons.is_empty() {
            p("lessons".into(), "add at least one lesson");
        }
        let mut ids = BTreeSet::new();
        for (i, l) in self.lessons.iter().enumerate() {
            if !ids.insert(l.id.as_str()) {
                p(format!("lessons.{i}.id"), "another lesson has this id");
            }
            if l.title.trim().is_empty() {
                p(format!("lessons.{i}.title"), "give the lesson a title");
            }
            match &l.content {
                Content::Video { blob: None, url: None } => {
                    p(format!("lessons.{i}"), "upload a video or give its link")
                }
                Content::Video { url: Some(u), .. } if !u.starts_with("https://") => {
                    p(format!("lessons.{i}.url"), "link to the video over https")
                }
                Content::File { blob, .. } if blob.trim().is_empty() => {
                    p(format!("lessons.{i}.blob"), "upload the file")
                }
                Content::Scorm { launch, .. } if launch.trim().is_empty() => {
                    p(format!("lessons.{i}.launch"), "name the SCO to launch")
                }
                Content::Quiz(q) => {
                    for qp in q.check() {
                        p(format!("lessons.{i}.{}", qp.field), &qp.message);
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The lesson a learner resumes at: the first not done, in order; none when the course is complete.
    pub fn resume_at<'a>(&'a self, done: &BTreeSet<String>) -> Option<&'a Lesson> {
        self.lessons.iter().find(|l| !done.contains(&l.id))
    }

    /// Whether every lesson is done.
    pub fn complete(&self, done: &BTreeSet<String>) -> bool {
        self.resume_at(done).is_none()
    }

    /// Done lessons as a share of all, in whole percent.
    pub fn percent(&self, done: &BTreeSet<String>) -> u32 {
        let n = self.lessons.len() as u32;
        let d = self.lessons.iter().filter(|l| done.contains(&l.id)).count() as u32;
        (d * 100).checked_div(n).unwrap_or(0)
    }
}

/// An ordered list of courses, each requiring the ones before it; completing all of them may certify, and a
/// path may be required of a role or a tier like a course.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Path {
    pub title: String,
    pub courses: Vec<String>,
    pub required_for: Vec<String>,
    pub certification: Option<crate::learn::CertSpec>,
}

impl Path {
    /// How many of the path's courses are in `completed`.
    pub fn completed_in(&self, completed: &BTreeSet<String>) -> usize {
        self.courses.iter().filter(|c| completed.contains(*c)).count()
    }
}

/// The courses a learner must complete before enrolling in `course`: its own prerequisites and, for every path it
/// is on, the path's earlier courses; those of them not in `completed`, in order, each once.
pub fn missing_prerequisites(
    course: &str,
    own: &[String],
    paths: &[Path],
    completed: &BTreeSet<String>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let earlier = paths.iter().flat_map(|p| {
        let at = p.courses.iter().position(|c| c == course).unwrap_or(0);
        p.courses[..at].iter()
    });
    for c in own.iter().chain(earlier) {
        if c != course && !completed.contains(c) && !out.contains(c) {
            out.push(c.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quiz::{Choice, Question, QuestionKind, Retake};

    fn text(id: &str) -> Lesson {
        Lesson { id: id.into(), title: format!("Lesson {id}"), content: Content::Text { markdown: "# Hi".into() } }
    }

    fn outline() -> Outline {
        Outline {
            title: "Edge Router basics".into(),
            summary: String::new(),
            lessons: vec![text("a"), text("b"), text("c")],
        }
    }

    fn done(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn progress_resumes_at_the_first_lesson_not_done() {
        let o = outline();
        assert_eq!(o.resume_at(&done(&[])).unwrap().id, "a");
        assert_eq!(o.resume_at(&done(&["a", "c"])).unwrap().id, "b", "in the course's order");
        assert_eq!(o.percent(&done(&["a", "c", "gone"])), 66, "lessons of another version do not count");
        assert!(o.complete(&done(&["a", "b", "c"])));
        assert!(!o.complete(&done(&["a", "b"])));
    }

    #[test]
    fn prerequisites_of_courses_and_paths() {
        let paths = vec![
            Path {
                title: "Routing".into(),
                courses: vec!["intro".into(), "routing".into(), "bgp".into()],
                ..Default::default()
            },
            Path { title: "Security".into(), courses: vec!["intro".into(), "firewall".into()], ..Default::default() },
        ];
        let none = BTreeSet::new();
        assert_eq!(missing_prerequisites("bgp", &[], &paths, &none), vec!["intro", "routing"]);
        assert_eq!(
            missing_prerequisites("bgp", &["firewall".into()], &paths, &done(&["intro"])),
            vec!["firewall", "routing"]
        );
        assert!(missing_prerequisites("intro", &[], &paths, &none).is_empty());
        assert!(missing_prerequisites("bgp", &[], &paths, &done(&["intro", "routing"])).is_empty());
        assert!(missing_prerequisites("elsewhere", &[], &paths, &none).is_empty(), "on no path");
    }

    #[test]
    fn a_draft_is_checked_before_it_is_published() {
        assert!(outline().check().is_empty());
        let mut o = outline();
        o.title = " ".into();
        o.lessons[1].id = "a".into();
        o.lessons.push(Lesson {
            id: "v".into(),
            title: "Video".into(),
            content: Content::Video { blob: None, url: Some("http://x".into()) },
        });
        o.lessons.push(Lesson {
            id: "q".into(),
            title: "Quiz".into(),
            content: Content::Quiz(Quiz {
                questions: vec![Question {
                    id: "1".into(),
                    prompt: "?".into(),
                    kind: QuestionKind::Single,
                    choices: vec![
                        Choice { id: "a".into(), text: "A".into(), correct: false },
                        Choice { id: "b".into(), text: "B".into(), correct: false },
                    ],
                }],
                pass_percent: 80,
                retake: Retake::Unlimited,
            }),
        });
        let fields: Vec<String> = o.check().into_iter().map(|p| format!("{}: {}", p.field, p.message)).collect();
        assert_eq!(
            fields,
            vec![
                "title: give the course a title",
                "lessons.1.id: another lesson has this id",
                "lessons.3.url: link to the video over https",
                "lessons.4.questions.0.choices: mark exactly one option as right",
            ]
        );
    }
}
