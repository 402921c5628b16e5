//! The builder core every named kind shares: the settings every options builder has
//! ([`NamedOptions`]), one macro that writes their setters ([`named_setters!`](crate::named_setters!)), and the
//! one implementation of the terminal verbs (`create`, `open`, `open_or_create`,
//! `create_unique`) of the kinds that are opened by name. The words and the lifetime rule
//! are those of the [crate documentation](crate#options-and-lifetimes); a kind's own
//! setters (size, value, capacity, dims, message size) stay with the kind.

use std::time::Duration;

/// The settings every named kind's builder shares: permission bits, the open wait, read-only
/// and the lifetime. Kinds hold one in a field and get their setters from
/// [`named_setters!`](crate::named_setters!); a kind that has no use for a setting does not generate its setter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedOptions {
    /// The permission bits of a created object (`0o600` by default, at most `0o777`).
    pub mode: u32,
    /// How long an open waits for the object to be ready (kinds whose open can wait).
    pub timeout: Duration,
    /// Open read-only (kinds that have the setter; creating calls refuse it).
    pub read_only: bool,
    /// Whether dropping the handle removes the name; `None`: exactly when it created it.
    pub unlink_on_drop: Option<bool>,
}

impl NamedOptions {
    /// Mode `0o600`, read-write, the creating handle removes the name, and an open that
    /// waits up to `timeout` (the kind's default).
    pub const fn new(timeout: Duration) -> Self {
        NamedOptions {
            mode: crate::shm::DEFAULT_MODE,
            timeout,
            read_only: false,
            unlink_on_drop: None,
        }
    }

    /// The checks every creating verb makes of the shared settings, before anything is
    /// created: mode bits within `0o777`, and not `read_only` (a new object must be
    /// written). Both are [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) from
    /// `op`; the caller names the object.
    pub fn check_creating(&self, op: &'static str) -> crate::Result<()> {
        crate::sys::file::check_mode(op, self.mode)?;
        if self.read_only {
            return Err(crate::Error::with_text(
                op,
                crate::ErrorKind::InvalidInput,
                "read_only with a creating verb: create read-write, then open read-only",
            ));
        }
        Ok(())
    }

    /// The lifetime rule: whether a handle removes its name on drop, given whether the call
    /// created the object.
    pub fn unlinks(&self, created: bool) -> bool {
        self.unlink_on_drop.unwrap_or(created)
    }
}

/// Writes the shared setters of an options builder whose [`NamedOptions`] is the field
/// `$field`: `named_setters!(named; mode, timeout, unlink_on_drop)` writes those three,
/// with the same words and documentation on every kind. The setters a kind can use are
/// listed; one it cannot use is not written (the crate documentation's table says which
/// kind has which).
#[doc(hidden)]
#[macro_export]
macro_rules! named_setters {
    ($field:ident; $($setter:ident),* $(,)?) => {
        $($crate::named_setters!(@one $field $setter);)*
    };
    (@one $field:ident mode) => {
        /// The permission bits of a created object (default `0o600`, at most `0o777`),
        /// applied exactly after creation, whatever the umask. Bits outside `0o777` are
        /// [`InvalidInput`](ipc_core::ErrorKind::InvalidInput).
        pub fn mode(mut self, bits: u32) -> Self {
            self.$field.mode = bits;
            self
        }
    };
    (@one $field:ident timeout) => {
        /// How long an open (also the open half of `open_or_create`) waits for the object
        /// to be ready: sized and, for a typed segment, published by its creator. One
        /// deadline for the whole open; the default is on the builder's `new`. A blocking
        /// operation on the handle takes its own wait as its `Option<Duration>` argument.
        pub fn timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.$field.timeout = timeout;
            self
        }
    };
    (@one $field:ident read_only) => {
        /// Open read-only, mapping `PROT_READ` (needs only read permission). Only for
        /// `open`: a new object must be written, so a creating call with `read_only` is
        /// refused with [`InvalidInput`](ipc_core::ErrorKind::InvalidInput).
        pub fn read_only(mut self, yes: bool) -> Self {
            self.$field.read_only = yes;
            self
        }
    };
    (@one $field:ident unlink_on_drop) => {
        /// Whether dropping the handle removes the name. Default: true exactly when this
        /// call created the object (see the lifetime table in `ipc_core`'s crate docs).
        pub fn unlink_on_drop(mut self, yes: bool) -> Self {
            self.$field.unlink_on_drop = Some(yes);
            self
        }
    };
}

/// Writes the four terminal verbs of a kind opened by name, all through the kind's
/// `fn open_as(&self, name: &str, how: CreateMode) -> Result<Handle>`; `create_unique` draws
/// names with [`crate::name::create_unique`]. The call gives the handle type, the system
/// call, what the object is called, the name kind, and the kind's own errors (written under
/// `create`, the others refer to them).
macro_rules! named_verbs {
    (
        $handle:ty, $op:literal, $what:literal, $kind:expr;
        $(#[$errors:meta])*
    ) => {
        #[doc = concat!("`", $op, "` with `O_CREAT | O_EXCL`: creates the ", $what, " `name`, ")]
        #[doc = "or fails with [`AlreadyExists`](ipc_core::ErrorKind::AlreadyExists) if the name"]
        #[doc = "is taken. A bad name is [`InvalidName`](ipc_core::ErrorKind::InvalidName),"]
        #[doc = "checked before any system call."]
        #[doc = ""]
        $(#[$errors])*
        #[doc(alias = $op)]
        pub fn create(&self, name: &str) -> $crate::Result<$handle> {
            self.open_as(name, $crate::CreateMode::Exclusive)
        }

        #[doc = concat!("`", $op, "` without `O_CREAT`: opens the existing ", $what, " `name`.")]
        #[doc = ""]
        #[doc = "Errors: [`NotFound`](ipc_core::ErrorKind::NotFound) (its message recalls that a"]
        #[doc = "creator's handle unlinks the name when dropped); those of"]
        #[doc = "[`create`](Self::create) that concern an open."]
        #[doc(alias = $op)]
        pub fn open(&self, name: &str) -> $crate::Result<$handle> {
            self.open_as(name, $crate::CreateMode::OpenExisting)
        }

        #[doc = concat!("Opens the ", $what, " `name` if it exists, else creates it: race-safe,")]
        #[doc = "exactly one of several concurrent callers creates (the handle's `created()` says"]
        #[doc = "which). Errors: those of [`create`](Self::create) and [`open`](Self::open)."]
        #[doc(alias = $op)]
        pub fn open_or_create(&self, name: &str) -> $crate::Result<$handle> {
            self.open_as(name, $crate::CreateMode::OpenOrCreate)
        }

        #[doc = "As [`create`](Self::create), under a fresh random name that starts with `prefix`"]
        #[doc = "(`/job-` gives `/job-9f86d081884c7d65`): race-free, drawing again while the name"]
        #[doc = "is taken; the handle's `name()` tells it (posix_ipc's `O_CREX`)."]
        #[doc = ""]
        #[doc = "Errors: those of [`create`](Self::create);"]
        #[doc = "[`InvalidName`](ipc_core::ErrorKind::InvalidName) for a prefix that does not"]
        #[doc = "start with `/`, holds another `/`, or leaves no room for the 16-character suffix."]
        #[doc(alias = "O_CREX")]
        pub fn create_unique(&self, prefix: &str) -> $crate::Result<$handle> {
            $crate::name::create_unique(
                $op,
                prefix,
                $kind,
                |n| self.create(n),
                |e: &$crate::Error| e.kind() == $crate::ErrorKind::AlreadyExists,
            )
        }
    };
}
pub(crate) use named_verbs;

/// Writes the shortcuts of a kind opened by name (`Kind::create(name, ..)`,
/// `Kind::open(name)`, `Kind::open_or_create(name, ..)`) and `Kind::options()`: each
/// shortcut is exactly its builder call, the kind's essential parameters given to the
/// builder's setters of the same names.
macro_rules! named_shortcuts {
    ($options:ident, $op:literal, $what:literal; $($arg:ident: $ty:ty),+) => {
        #[doc = concat!("`", $op, "` with `O_CREAT | O_EXCL`: creates the ", $what, " `name`")]
        #[doc = "with mode `0o600`; the name is unlinked when this handle drops. Shortcut for"]
        #[doc = concat!("`Self::options()", $(".", stringify!($arg), "(", stringify!($arg), ")",)+ ".create(name)`;")]
        #[doc = concat!("errors as [`", stringify!($options), "::create`].")]
        #[doc(alias = $op)]
        pub fn create(name: &str, $($arg: $ty),+) -> $crate::Result<Self> {
            Self::options()$(.$arg($arg))+.create(name)
        }

        #[doc = concat!("`", $op, "` without `O_CREAT`: opens the existing ", $what, " `name`.")]
        #[doc = concat!("Shortcut for `Self::options().open(name)`; errors as [`", stringify!($options), "::open`].")]
        #[doc(alias = $op)]
        pub fn open(name: &str) -> $crate::Result<Self> {
            Self::options().open(name)
        }

        #[doc = concat!("Opens the ", $what, " `name` if it exists, else creates it (race-safe:")]
        #[doc = "exactly one of several concurrent callers creates; [`created`](Self::created) says"]
        #[doc = "which, and only a creating handle unlinks on drop). Shortcut for"]
        #[doc = concat!("`Self::options()", $(".", stringify!($arg), "(", stringify!($arg), ")",)+ ".open_or_create(name)`.")]
        #[doc(alias = $op)]
        pub fn open_or_create(name: &str, $($arg: $ty),+) -> $crate::Result<Self> {
            Self::options()$(.$arg($arg))+.open_or_create(name)
        }

        #[doc = "The builder for everything beyond the shortcuts (mode bits, who unlinks, and the"]
        #[doc = concat!("kind's own settings); the same as [`", stringify!($options), "::new`].")]
        pub fn options() -> $options {
            $options::new()
        }
    };
}
pub(crate) use named_shortcuts;

/// Writes the lifetime accessors every named handle has (`name`, `created`,
/// `unlinks_on_drop`, `set_unlink_on_drop`) for a handle with the fields `name`, `created`
/// and `unlinker: Option<process::Owner>` (the process whose drop removes the name).
macro_rules! named_handle {
    ($what:literal) => {
        #[doc = concat!("The ", $what, "'s name, as given.")]
        pub fn name(&self) -> &str {
            &self.name
        }

        #[doc = concat!("Whether this handle created the ", $what, " (rather than opening an existing one).")]
        pub fn created(&self) -> bool {
            self.created
        }

        /// Whether dropping this handle (in this process) unlinks the name.
        pub fn unlinks_on_drop(&self) -> bool {
            self.unlinker.is_some_and($crate::process::Owner::is_current)
        }

        #[doc = concat!("Chooses whether dropping this handle unlinks the name: `false` keeps the ", $what)]
        #[doc = "after this process (until [`unlink`] or a reboot); `true` makes this process's"]
        #[doc = "handle unlink it, also if another process created it."]
        pub fn set_unlink_on_drop(&mut self, yes: bool) {
            self.unlinker = yes.then($crate::process::Owner::current);
        }
    };
}
pub(crate) use named_handle;
