//! What every policy value parsed at load has in common. Such a value keeps
//! the text it was written as beside what it means: `policy show` prints it
//! back unchanged, and messages quote it as the user wrote it.

/// Gives `$ty`, a struct with a `text: String` field and a `FromStr` that
/// parses it, the ways in and out serde and messages use: `TryFrom<String>`
/// (serde's `try_from`), whose refusal names `$field`, the one policy field
/// the type is for; `Into<String>` (serde's `into`) and `Display`, both the
/// text as written; and `as_str`.
macro_rules! parsed_value {
    ($ty:ident, $field:expr) => {
        impl TryFrom<String> for $ty {
            type Error = $crate::error::Refusal;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                text.parse::<Self>()
                    .map_err(|err| $crate::error::Refusal::new($field, err))
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.text
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.text)
            }
        }

        impl $ty {
            /// The value as the policy wrote it.
            pub fn as_str(&self) -> &str {
                &self.text
            }
        }
    };
}

pub(crate) use parsed_value;

/// Checks of what [`parsed_value`] promises, for the tests of each type.
#[cfg(test)]
pub(crate) mod testing {
    use std::fmt::{Debug, Display};
    use std::str::FromStr;

    use crate::error::Refusal;

    /// Parses `text`, which must be valid, and checks that every way out
    /// gives it back as written and that serde's way in agrees.
    pub(crate) fn reads_back<T>(text: &str) -> T
    where
        T: FromStr + TryFrom<String, Error = Refusal> + Into<String>,
        T: Clone + Debug + Display + PartialEq,
        <T as FromStr>::Err: Debug,
    {
        let value: T = text.parse().unwrap();
        assert_eq!(value.to_string(), text);
        assert_eq!(value.clone().into(), text);
        assert_eq!(T::try_from(text.to_owned()), Ok(value.clone()));
        value
    }

    /// Checks that `text` is refused with `message`, and by serde's way in
    /// with `message` under `field`.
    pub(crate) fn refuses<T>(text: &str, field: &str, message: &str)
    where
        T: FromStr + TryFrom<String, Error = Refusal> + Debug,
        <T as FromStr>::Err: Display + Debug,
    {
        assert_eq!(text.parse::<T>().unwrap_err().to_string(), message);
        assert_eq!(
            T::try_from(text.to_owned()).unwrap_err(),
            Refusal::new(field, message)
        );
    }
}
