//! The time the batch lifecycle reads: when records are stamped (`store.inserted_at`), when alert
//! rules are evaluated and when the alert outbox is flushed. The system clock when a pipeline
//! runs; a virtual one that `stockrun test` moves to each recorded response's time, so two runs
//! of a test store the same rows and compare with a golden file. Not the queue's clock: message
//! visibility stays on the wall clock, where it is only ever compared with itself.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

/// The lifecycle's clock (see the module doc). Clones share the time: moving one moves all.
#[derive(Clone, Debug, Default)]
pub struct BatchClock {
    /// `None`: the system clock; else the virtual time now.
    fixed: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl BatchClock {
    /// The system clock.
    pub fn system() -> BatchClock {
        BatchClock::default()
    }

    /// A virtual clock standing at `at` until [`BatchClock::set`] moves it.
    pub fn fixed(at: DateTime<Utc>) -> BatchClock {
        BatchClock {
            fixed: Some(Arc::new(Mutex::new(at))),
        }
    }

    /// Moves a virtual clock to `at` (the system clock cannot be moved: nothing happens).
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(fixed) = &self.fixed {
            *fixed.lock().unwrap_or_else(PoisonError::into_inner) = at;
        }
    }

    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.fixed {
            Some(fixed) => *fixed.lock().unwrap_or_else(PoisonError::into_inner),
            None => Utc::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_virtual_clock_stands_still_until_moved_and_clones_move_with_it() {
        let start = DateTime::parse_from_rfc3339("2024-03-18T10:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = BatchClock::fixed(start);
        let other = clock.clone();
        assert_eq!(clock.now(), start);
        let later = start + chrono::Duration::minutes(5);
        other.set(later);
        assert_eq!(clock.now(), later);
    }

    #[test]
    fn the_system_clock_follows_the_wall_clock() {
        let before = Utc::now();
        let clock = BatchClock::system();
        clock.set(before - chrono::Duration::days(1));
        assert!(clock.now() >= before);
    }
}
