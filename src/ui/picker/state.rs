//! What the picker shows and does, as a pure state machine: the query, the
//! candidates that match it (ranked by nucleo-matcher, Helix's fuzzy
//! matcher, with fzf's syntax: `'exact`, `^prefix`, `suffix$`, `!not`,
//! atoms separated by spaces), the selected one, and the window of rows on
//! screen.

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};

use super::keys::Key;

/// What a key led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    /// The index (into the candidates) of the one picked.
    Picked(usize),
    Cancelled,
}

pub struct PickerState {
    items: Vec<String>,
    query: String,
    /// Indices into `items`, best match first.
    matches: Vec<usize>,
    /// Index into `matches`.
    selected: usize,
    /// The first row of `matches` on screen.
    top: usize,
    /// How many rows fit on screen.
    height: usize,
    matcher: Matcher,
}

impl PickerState {
    pub fn new(items: Vec<String>, height: usize) -> Self {
        let mut state = Self {
            matches: (0..items.len()).collect(),
            items,
            query: String::new(),
            selected: 0,
            top: 0,
            height: height.max(1),
            matcher: Matcher::new(Config::DEFAULT),
        };
        state.refilter();
        state
    }

    pub fn query(&self) -> &str {
        &self.query
    }

    pub fn total(&self) -> usize {
        self.items.len()
    }

    pub fn matched(&self) -> usize {
        self.matches.len()
    }

    pub fn set_height(&mut self, height: usize) {
        self.height = height.max(1);
        self.scroll();
    }

    /// The rows on screen: each candidate's text and whether it is the
    /// selected one.
    pub fn visible(&self) -> impl Iterator<Item = (&str, bool)> {
        self.matches
            .iter()
            .enumerate()
            .skip(self.top)
            .take(self.height)
            .map(|(row, &i)| (self.items[i].as_str(), row == self.selected))
    }

    pub fn handle(&mut self, key: Key) -> Outcome {
        match key {
            Key::Char(c) => {
                self.query.push(c);
                self.refilter();
            }
            Key::Backspace => {
                self.query.pop();
                self.refilter();
            }
            Key::DeleteWord => {
                let kept = self.query.trim_end().rfind(' ').map_or(0, |i| i + 1);
                self.query.truncate(kept);
                self.refilter();
            }
            Key::ClearQuery => {
                self.query.clear();
                self.refilter();
            }
            Key::Up => self.move_by(-1),
            Key::Down => self.move_by(1),
            Key::PageUp => self.move_by(-isize::try_from(self.height).unwrap_or(1)),
            Key::PageDown => self.move_by(isize::try_from(self.height).unwrap_or(1)),
            Key::Enter => {
                if let Some(&i) = self.matches.get(self.selected) {
                    return Outcome::Picked(i);
                }
            }
            Key::Cancel => return Outcome::Cancelled,
        }
        Outcome::Continue
    }

    fn move_by(&mut self, delta: isize) {
        if self.matches.is_empty() {
            return;
        }
        let last = self.matches.len() - 1;
        self.selected = self.selected.saturating_add_signed(delta).min(last);
        self.scroll();
    }

    /// Keeps the selected row on screen.
    fn scroll(&mut self) {
        if self.selected < self.top {
            self.top = self.selected;
        } else if self.selected >= self.top + self.height {
            self.top = self.selected + 1 - self.height;
        }
    }

    /// Ranks the candidates against the query: best score first, ties in
    /// the order they came (the caller's order is meaningful).
    fn refilter(&mut self) {
        let pattern = Pattern::parse(&self.query, CaseMatching::Smart, Normalization::Smart);
        let mut buf = Vec::new();
        let mut scored: Vec<(u32, usize)> = self
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                pattern
                    .score(Utf32Str::new(item, &mut buf), &mut self.matcher)
                    .map(|score| (score, i))
            })
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        self.matches = scored.into_iter().map(|(_, i)| i).collect();
        self.selected = 0;
        self.top = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> Vec<String> {
        (0..50)
            .map(|i| format!("i-{i:017x}  fleet-{i:02}  ACTIVE  127.0.0.{}", 100 + i))
            .collect()
    }

    fn typed(state: &mut PickerState, text: &str) {
        for c in text.chars() {
            assert_eq!(state.handle(Key::Char(c)), Outcome::Continue);
        }
    }

    fn shown(state: &PickerState) -> Vec<String> {
        state
            .visible()
            .map(|(row, selected)| {
                format!("{}{}", if selected { "> " } else { "  " }, &row[21..29])
            })
            .collect()
    }

    #[test]
    fn typing_narrows_and_ranks_the_closest_first() {
        let mut state = PickerState::new(fleet(), 5);
        assert_eq!(state.matched(), 50);
        typed(&mut state, "fleet-37");
        assert!(state.matched() < 50);
        assert_eq!(shown(&state)[0], "> fleet-37");
        // An exact atom (fzf's `'`) narrows to the one address.
        typed(&mut state, " '137");
        assert_eq!(state.matched(), 1);
        assert_eq!(state.handle(Key::Enter), Outcome::Picked(37));
    }

    #[test]
    fn exact_atoms_keep_the_callers_order_and_arrows_move() {
        let mut state = PickerState::new(fleet(), 3);
        typed(&mut state, "'fleet-4");
        assert_eq!(state.matched(), 10);
        assert_eq!(shown(&state), ["> fleet-40", "  fleet-41", "  fleet-42"]);
        state.handle(Key::Down);
        state.handle(Key::Down);
        state.handle(Key::Down);
        assert_eq!(shown(&state), ["  fleet-41", "  fleet-42", "> fleet-43"]);
        state.handle(Key::PageDown);
        state.handle(Key::PageDown);
        state.handle(Key::PageDown);
        assert_eq!(shown(&state), ["  fleet-47", "  fleet-48", "> fleet-49"]);
        state.handle(Key::Up);
        assert_eq!(state.handle(Key::Enter), Outcome::Picked(48));
    }

    #[test]
    fn editing_the_query_widens_again() {
        let mut state = PickerState::new(fleet(), 10);
        typed(&mut state, "'fleet-4 zzz");
        assert_eq!(state.matched(), 0);
        // Enter with nothing matching picks nothing and goes on.
        assert_eq!(state.handle(Key::Enter), Outcome::Continue);
        state.handle(Key::DeleteWord);
        assert_eq!(state.query(), "'fleet-4 ");
        assert_eq!(state.matched(), 10);
        state.handle(Key::Backspace);
        state.handle(Key::Backspace);
        assert_eq!(state.query(), "'fleet-");
        assert_eq!(state.matched(), 50);
        state.handle(Key::ClearQuery);
        assert_eq!(state.query(), "");
        assert_eq!(state.handle(Key::Cancel), Outcome::Cancelled);
    }

    #[test]
    fn the_first_candidate_is_the_default() {
        let mut state = PickerState::new(vec!["b".into(), "a".into()], 10);
        state.handle(Key::Up);
        assert_eq!(state.handle(Key::Enter), Outcome::Picked(0));
        let mut empty = PickerState::new(Vec::new(), 10);
        empty.handle(Key::Down);
        assert_eq!(empty.handle(Key::Enter), Outcome::Continue);
    }
}
