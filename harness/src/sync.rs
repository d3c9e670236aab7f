//! Locks taken whatever happened to their last holder. A step that fails panics (cucumber
//! turns the panic into the step's failure), and a panic while a lock is held poisons it;
//! every lock of the harness guards data that each holder leaves whole (a list pushed to,
//! a record replaced, a counter added to), so the next scenario takes the lock as it is
//! instead of failing for an earlier one's panic.

use std::sync::{Mutex, MutexGuard, PoisonError};

pub trait Locked<T: ?Sized> {
    /// The guard, poisoned or not.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T: ?Sized> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
