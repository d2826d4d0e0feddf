//! Quizzes: questions with one or several right answers, the order a learner sees them in, scoring, and who may
//! try again when.
//!
//! - A single-choice question has exactly one right option; a multiple-choice question at least one, and is right
//!   only when the learner picks exactly the right ones (no partial credit: a half-right answer to "which of these
//!   apply" is a wrong answer).
//! - Each attempt shows the questions, and each question's options, in an order drawn from the attempt's seed, so
//!   the order is different per attempt and the same when a learner reloads the page.
//! - The score is the share of questions answered right, in whole percent rounded down (a 79.9 % never passes an
//!   80 % bar).
//! - Retakes: unlimited; at most N attempts; or a cool-down after a failed attempt. Once passed, a quiz is not
//!   taken again (a renewal starts a new enrolment, with attempts of its own).

use std::collections::BTreeSet;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One option of a question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub id: String,
    pub text: String,
    pub correct: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    Single,
    Multiple,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub id: String,
    pub prompt: String,
    pub kind: QuestionKind,
    pub choices: Vec<Choice>,
}

/// Who may try again, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum Retake {
    Unlimited,
    /// At most this many attempts in all.
    Attempts {
        max: u32,
    },
    /// After a failed attempt, the next one opens this many hours later.
    Cooldown {
        hours: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quiz {
    pub questions: Vec<Question>,
    /// The share of questions to get right, in percent (1-100).
    pub pass_percent: u32,
    pub retake: Retake,
}

/// A problem with a quiz as authored, for the field it concerns (`questions.2.choices`) and in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Quiz {
    /// Every problem that keeps the quiz from being published; none means it can be.
    pub fn check(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut p = |field: String, message: &str| out.push(Problem { field, message: message.to_string() });
        if self.questions.is_empty() {
            p("questions".into(), "add at least one question");
        }
        if !(1..=100).contains(&self.pass_percent) {
            p("pass_percent".into(), "use a passing score from 1 to 100 %");
        }
        match self.retake {
            Retake::Attempts { max: 0 } => p("retake".into(), "allow at least one attempt"),
            Retake::Cooldown { hours: 0 } => p("retake".into(), "use a cool-down of at least one hour"),
            _ => {}
        }
        let mut ids = BTreeSet::new();
        for (i, q) in self.questions.iter().enumerate() {
            let at = |what: &str| format!("questions.{i}.{what}");
            if q.prompt.trim().is_empty() {
                p(at("prompt"), "write the question");
            }
            if !ids.insert(q.id.as_str()) {
                p(at("id"), "another question has this id");
            }
            if q.choices.len() < 2 {
                p(at("choices"), "give at least two options");
            }
            if q.choices.iter().any(|c| c.text.trim().is_empty()) {
                p(at("choices"), "every option needs a text");
            }
            let choice_ids: BTreeSet<&str> = q.choices.iter().map(|c| c.id.as_str()).collect();
            if choice_ids.len() != q.choices.len() {
                p(at("choices"), "two options have the same id");
            }
            let right = q.choices.iter().filter(|c| c.correct).count();
            match q.kind {
                QuestionKind::Single if right != 1 => p(at("choices"), "mark exactly one option as right"),
                QuestionKind::Multiple if right == 0 => p(at("choices"), "mark at least one option as right"),
                _ => {}
            }
        }
        out
    }

    /// The order an attempt shows: question indexes, and for each question its choices' indexes, drawn from
    /// `seed` (the same seed gives the same order).
    pub fn order(&self, seed: u64) -> Vec<(usize, Vec<usize>)> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut questions: Vec<usize> = (0..self.questions.len()).collect();
        questions.shuffle(&mut rng);
        questions
            .into_iter()
            .map(|q| {
                let mut choices: Vec<usize> = (0..self.questions[q].choices.len()).collect();
                choices.shuffle(&mut rng);
                (q, choices)
            })
            .collect()
    }

    /// Scores answers (question id → the chosen choice ids). Unanswered questions are wrong; choices the question
    /// does not have make the answer wrong.
    pub fn score(&self, answers: &[(String, Vec<String>)]) -> Score {
        let mut right = Vec::new();
        for q in &self.questions {
            let chosen: BTreeSet<&str> = answers
                .iter()
                .find(|(id, _)| *id == q.id)
                .map(|(_, c)| c.iter().map(String::as_str).collect())
                .unwrap_or_default();
            let correct: BTreeSet<&str> = q.choices.iter().filter(|c| c.correct).map(|c| c.id.as_str()).collect();
            let ok = match q.kind {
                QuestionKind::Single => chosen.len() == 1 && chosen == correct,
                QuestionKind::Multiple => !chosen.is_empty() && chosen == correct,
            };
            if ok {
                right.push(q.id.clone());
            }
        }
        let total = self.questions.len() as u32;
        let correct = right.len() as u32;
        let percent = (correct * 100).checked_div(total).unwrap_or(0);
        Score { correct, total, percent, passed: total > 0 && percent >= self.pass_percent, right }
    }
}

/// An attempt's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub correct: u32,
    pub total: u32,
    /// Whole percent, rounded down.
    pub percent: u32,
    pub passed: bool,
    /// The questions answered right.
    pub right: Vec<String>,
}

/// An attempt as the retake rule needs it: when it was finished and whether it passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finished {
    pub at: i64,
    pub passed: bool,
}

/// Why a learner may not start an attempt now, and when they may (if ever).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub message: String,
    /// When the next attempt opens (a cool-down), epoch ms.
    pub open_at: Option<i64>,
}

const HOUR_MS: i64 = 3_600_000;

/// Whether another attempt may start at `now`, given the finished ones.
pub fn may_attempt(retake: Retake, finished: &[Finished], now: i64) -> Result<(), Refusal> {
    if finished.iter().any(|f| f.passed) {
        return Err(Refusal { message: "you have passed this quiz".into(), open_at: None });
    }
    match retake {
        Retake::Unlimited => Ok(()),
        Retake::Attempts { max } if finished.len() as u32 >= max => Err(Refusal {
            message: format!("you have used all {max} attempt{}", if max == 1 { "" } else { "s" }),
            open_at: None,
        }),
        Retake::Attempts { .. } => Ok(()),
        Retake::Cooldown { hours } => match finished.iter().map(|f| f.at).max() {
            Some(last) if now < last + i64::from(hours) * HOUR_MS => {
                let open_at = last + i64::from(hours) * HOUR_MS;
                Err(Refusal {
                    message: format!("you can try again {hours} hours after your last attempt"),
                    open_at: Some(open_at),
                })
            }
            _ => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(id: &str, correct: bool) -> Choice {
        Choice { id: id.into(), text: format!("option {id}"), correct }
    }

    fn quiz(pass: u32, retake: Retake) -> Quiz {
        Quiz {
            questions: vec![
                Question {
                    id: "q1".into(),
                    prompt: "Which port does HTTPS use?".into(),
                    kind: QuestionKind::Single,
                    choices: vec![choice("a", false), choice("b", true), choice("c", false)],
                },
                Question {
                    id: "q2".into(),
                    prompt: "Which of these are routing protocols?".into(),
                    kind: QuestionKind::Multiple,
                    choices: vec![choice("a", true), choice("b", true), choice("c", false), choice("d", false)],
                },
                Question {
                    id: "q3".into(),
                    prompt: "Is BGP an exterior gateway protocol?".into(),
                    kind: QuestionKind::Single,
                    choices: vec![choice("yes", true), choice("no", false)],
                },
            ],
            pass_percent: pass,
            retake,
        }
    }

    fn answers(a: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        a.iter().map(|(q, c)| (q.to_string(), c.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn multiple_choice_is_right_only_with_exactly_the_right_options() {
        let q = quiz(66, Retake::Unlimited);
        let all = q.score(&answers(&[("q1", &["b"]), ("q2", &["a", "b"]), ("q3", &["yes"])]));
        assert_eq!((all.correct, all.percent, all.passed), (3, 100, true));
        let half = q.score(&answers(&[("q1", &["b"]), ("q2", &["a"]), ("q3", &["yes"])]));
        assert_eq!((half.correct, half.percent, half.passed), (2, 66, true), "66 % of 3 passes a 66 % bar");
        let extra = q.score(&answers(&[("q1", &["b", "a"]), ("q2", &["a", "b", "c"]), ("q3", &["no"])]));
        assert_eq!((extra.correct, extra.passed), (0, false), "two answers to a single choice, one too many");
        let none = q.score(&[]);
        assert_eq!((none.correct, none.total, none.passed), (0, 3, false));
        let unknown = q.score(&answers(&[("q3", &["maybe"])]));
        assert_eq!(unknown.correct, 0);
        assert!(
            !quiz(67, Retake::Unlimited).score(&answers(&[("q1", &["b"]), ("q3", &["yes"])])).passed,
            "66 % fails 67 %"
        );
    }

    #[test]
    fn each_attempt_has_its_own_order_and_keeps_it() {
        let q = quiz(66, Retake::Unlimited);
        assert_eq!(q.order(7), q.order(7));
        let orders: BTreeSet<Vec<(usize, Vec<usize>)>> = (0..20).map(|s| q.order(s)).collect();
        assert!(orders.len() > 10, "seeds give different orders: {}", orders.len());
        for (qi, choices) in q.order(3) {
            let mut sorted = choices.clone();
            sorted.sort();
            assert_eq!(sorted, (0..q.questions[qi].choices.len()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn each_retake_policy() {
        let failed = |at| Finished { at, passed: false };
        assert!(may_attempt(Retake::Unlimited, &[failed(0); 50], 1).is_ok());
        let two = Retake::Attempts { max: 2 };
        assert!(may_attempt(two, &[failed(0)], 1).is_ok());
        let no = may_attempt(two, &[failed(0), failed(1)], 2).unwrap_err();
        assert_eq!((no.message.as_str(), no.open_at), ("you have used all 2 attempts", None));
        let cool = Retake::Cooldown { hours: 24 };
        assert!(may_attempt(cool, &[], 0).is_ok());
        let wait = may_attempt(cool, &[failed(1_000)], 1_000 + 23 * HOUR_MS).unwrap_err();
        assert_eq!(wait.open_at, Some(1_000 + 24 * HOUR_MS));
        assert!(may_attempt(cool, &[failed(1_000)], 1_000 + 24 * HOUR_MS).is_ok());
        let passed = may_attempt(Retake::Unlimited, &[Finished { at: 0, passed: true }], 1).unwrap_err();
        assert_eq!(passed.message, "you have passed this quiz");
    }

    #[test]
    fn a_quiz_is_checked_before_it_is_published() {
        assert!(quiz(66, Retake::Unlimited).check().is_empty());
        let mut bad = quiz(0, Retake::Attempts { max: 0 });
        bad.questions[0].choices[0].correct = true;
        bad.questions[1].choices.iter_mut().for_each(|c| c.correct = false);
        bad.questions[2].choices.truncate(1);
        bad.questions[2].id = "q1".into();
        let fields: Vec<String> = bad.check().into_iter().map(|p| format!("{}: {}", p.field, p.message)).collect();
        assert_eq!(
            fields,
            vec![
                "pass_percent: use a passing score from 1 to 100 %",
                "retake: allow at least one attempt",
                "questions.0.choices: mark exactly one option as right",
                "questions.1.choices: mark at least one option as right",
                "questions.2.id: another question has this id",
                "questions.2.choices: give at least two options",
            ]
        );
    }
}
