//! `JoinError`: why a goroutine produced no output.

use std::any::Any;
use std::fmt;

/// The error a [`JoinHandle`](crate::JoinHandle) returns when its goroutine did not produce a
/// value: it panicked, or it was cancelled (by [`abort`](crate::JoinHandle::abort) or by
/// runtime shutdown).
///
/// # Examples
///
/// ```
/// let rt = gort_runtime::Runtime::new().unwrap();
/// let err = rt.block_on(async {
///     gort_runtime::go(async { panic!("boom") }).await.unwrap_err()
/// });
/// assert!(err.is_panic());
/// assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
/// ```
pub struct JoinError {
    id: u64,
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic(SyncPayload),
}

/// A panic payload made `Sync` by allowing access only by value.
struct SyncPayload(Box<dyn Any + Send + 'static>);

// SAFETY: the payload is only ever reached through `self` by value (`into_panic`) or to read
// its message through `&mut`-free downcasts of `&str`/`String`, which are themselves Sync.
unsafe impl Sync for SyncPayload {}

impl JoinError {
    pub(crate) fn cancelled(id: u64) -> JoinError {
        JoinError {
            id,
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(id: u64, payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            id,
            repr: Repr::Panic(SyncPayload(payload)),
        }
    }

    /// True if the goroutine was cancelled before it completed.
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let h = gort_runtime::go(std::future::pending::<()>());
    ///     h.abort();
    ///     assert!(h.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// True if the goroutine panicked.
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// let err = rt.block_on(async { gort_runtime::go(async { panic!() }).await }).unwrap_err();
    /// assert!(err.is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload, to pass to [`std::panic::resume_unwind`].
    ///
    /// # Panics
    ///
    /// If the goroutine did not panic (it was cancelled).
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// let err = rt
    ///     .block_on(async { gort_runtime::go(async { std::panic::panic_any(7u32) }).await })
    ///     .unwrap_err();
    /// assert_eq!(*err.into_panic().downcast::<u32>().unwrap(), 7);
    /// ```
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("gort: `JoinError::into_panic` on a cancelled task")
    }

    /// The panic payload, or the error itself if the goroutine was cancelled.
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// let err = rt.block_on(async { gort_runtime::go(async { panic!("x") }).await }).unwrap_err();
    /// assert!(err.try_into_panic().is_ok());
    /// ```
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(SyncPayload(payload)) => Ok(payload),
            Repr::Cancelled => Err(self),
        }
    }

    /// The id of the goroutine, as [`dump`](crate::runtime::dump) shows it.
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// let h = rt.spawn(async { panic!() });
    /// let id = h.id();
    /// assert_eq!(rt.block_on(h).unwrap_err().id(), id);
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }

    fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic(SyncPayload(p)) => p
                .downcast_ref::<&'static str>()
                .copied()
                .or_else(|| p.downcast_ref::<String>().map(String::as_str)),
            Repr::Cancelled => None,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => write!(f, "goroutine {} was cancelled", self.id),
            (Repr::Panic(_), Some(msg)) => write!(f, "goroutine {} panicked: {msg}", self.id),
            (Repr::Panic(_), None) => write!(f, "goroutine {} panicked", self.id),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => write!(f, "JoinError::Cancelled({})", self.id),
            (Repr::Panic(_), Some(msg)) => write!(f, "JoinError::Panic({}, {msg:?})", self.id),
            (Repr::Panic(_), None) => write!(f, "JoinError::Panic({}, ..)", self.id),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(err: JoinError) -> std::io::Error {
        std::io::Error::other(err.to_string())
    }
}
