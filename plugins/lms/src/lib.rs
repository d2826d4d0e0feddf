//! Training and certification (issue 23), being built: the rules, kept free of the host so that they are tested
//! natively, come first; the plugin (pages, API, storage, schedules, the certificate PDF, SCORM) is built on them
//! next and gets its `plugin.toml` then, which is when the demo installs it.
//!
//! - [`course`]: courses as drafts and published versions, a learner's progress and where they resume, the
//!   prerequisites of courses and learning paths;
//! - [`quiz`]: questions, the order an attempt shows, scoring, retake policies;
//! - [`cert`]: validity, standing (active, expiring, expired), reminders, verification codes.

pub mod cert;
pub mod course;
pub mod quiz;
