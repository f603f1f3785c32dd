//! The one way to mirror a domain enum in GraphQL: [`mirror_enum!`](crate::mirror_enum).
//!
//! The domain crates cannot derive `async_graphql::Enum` (they do not know async-graphql), so each GraphQL enum is a
//! copy with conversions both ways; the macro writes both `From`s, so adding a variant to one side without the
//! other fails to compile.

/// Declares a GraphQL enum mirroring a domain enum variant for variant, with `From` both ways.
///
/// ```ignore
/// mirror_enum! {
///     /// Status of a grant.
///     pub enum GrantStatus mirrors maillage_funding::GrantStatus {
///         /// Being written.
///         Draft,
///         /// Signed.
///         Signed,
///     }
/// }
/// ```
#[macro_export]
macro_rules! mirror_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident mirrors $($domain:ident)::+ {
            $($(#[$vmeta:meta])* $variant:ident),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl From<$name> for $($domain)::+ {
            fn from(value: $name) -> Self {
                match value {
                    $($name::$variant => $($domain)::+::$variant),+
                }
            }
        }

        impl From<$($domain)::+> for $name {
            fn from(value: $($domain)::+) -> Self {
                match value {
                    $($($domain)::+::$variant => $name::$variant),+
                }
            }
        }
    };
}
