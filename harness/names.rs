//! One name table per choice: [`names!`] declares an enum together with the name of
//! each variant, and derives from that one table its `ALL`, `as_str`, `Display`,
//! `FromStr` (an unknown name lists the known ones) and `Serialize` (the name, so an
//! export reads the same words a scenario file and the CLI use).

/// Declares `enum NAME ("what it is") { Variant => "name", ... }`.
macro_rules! names {
    (
        $(#[$m:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $($(#[$vm:meta])* $var:ident => $s:literal),+ $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vm])* $var),+
        }

        impl $name {
            /// Every variant, in the table's order.
            pub const ALL: [$name; $crate::names::count!($($var)+)] = [$($name::$var),+];

            /// The variant's name, as scenario files, flags and exports spell it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$var => $s),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
                    let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    format!("unknown {} `{s}`; expected one of {}", $what, names.join(", "))
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

/// The number of identifiers given.
macro_rules! count {
    () => { 0usize };
    ($head:ident $($tail:ident)*) => { 1usize + $crate::names::count!($($tail)*) };
}

pub(crate) use count;
pub(crate) use names;

#[cfg(test)]
mod tests {
    names! {
        /// A test table.
        enum Colour ("colour") {
            Red => "red",
            DeepBlue => "deep-blue",
        }
    }

    #[test]
    fn one_table_gives_every_direction() {
        assert_eq!(Colour::ALL, [Colour::Red, Colour::DeepBlue]);
        assert_eq!("deep-blue".parse::<Colour>(), Ok(Colour::DeepBlue));
        assert_eq!(Colour::Red.to_string(), "red");
        assert_eq!(
            "green".parse::<Colour>().unwrap_err(),
            "unknown colour `green`; expected one of red, deep-blue"
        );
        assert_eq!(
            serde_json::to_string(&Colour::DeepBlue).unwrap(),
            "\"deep-blue\""
        );
    }
}
