//! Text folding for search, so that "Médiathèque" is found by "mediatheque".

/// Lower-cases and removes French diacritics; ligatures are expanded and typographic apostrophes straightened.
///
/// Done in Rust and stored in a column, rather than in SQL, because SQLite and PostgreSQL disagree on collations
/// and `unaccent` is an extension that a fresh PostgreSQL lacks.
pub fn fold(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        // Most characters of a name are ASCII: lowering them directly skips the Unicode case tables, which were
        // most of the cost of this function in a profile of nested site lists (issue #16).
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        for c in c.to_lowercase() {
            match c {
                'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => out.push('a'),
                'ç' => out.push('c'),
                'è' | 'é' | 'ê' | 'ë' => out.push('e'),
                'ì' | 'í' | 'î' | 'ï' => out.push('i'),
                'ñ' => out.push('n'),
                'ò' | 'ó' | 'ô' | 'õ' | 'ö' => out.push('o'),
                'ù' | 'ú' | 'û' | 'ü' => out.push('u'),
                'ý' | 'ÿ' => out.push('y'),
                'œ' => out.push_str("oe"),
                'æ' => out.push_str("ae"),
                '’' | '‘' | 'ʼ' => out.push('\''),
                _ => out.push(c),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn folds_capitals_with_accents_and_ascii_alike() {
        assert_eq!(
            super::fold("ÉCOLE Saint-Jean D’ANGÉLY ÆØ 42"),
            "ecole saint-jean d'angely aeø 42"
        );
    }

    #[test]
    fn folds_french() {
        assert_eq!(
            super::fold("Médiathèque Œuvre L’Île"),
            "mediatheque oeuvre l'ile"
        );
    }
}
