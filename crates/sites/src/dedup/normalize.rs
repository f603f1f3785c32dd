//! Normal forms of the fields that identify a place, so that two sources' spellings of one lieu compare equal.
//!
//! Pure functions: no database, no allocation beyond the result. Every rule here exists because real files spell
//! the same thing differently ("St Martin" / "Saint-Martin", "bd" / "boulevard", "+33 4…" / "04…").

use maillage_core::text::fold;

/// Words that carry no identity in a name or an address: articles and prepositions.
const STOP_WORDS: &[&str] = &[
    "de", "du", "des", "la", "le", "les", "l", "d", "et", "a", "au", "aux", "en", "sur", "sous",
    "the",
];

/// Words so common in the names of lieux that two names sharing only them say nothing ("Mairie de X" is "X").
const GENERIC_NAME_WORDS: &[&str] = &[
    "mairie",
    "mediatheque",
    "bibliotheque",
    "municipale",
    "municipal",
    "ville",
    "commune",
    "hotel",
    "intercommunale",
    "intercommunal",
];

/// Abbreviations expanded in names and addresses.
fn expand(token: &str) -> &str {
    match token {
        "st" => "saint",
        "ste" => "sainte",
        "av" | "ave" | "aven" => "avenue",
        "bd" | "bld" | "blvd" | "boul" | "bvd" => "boulevard",
        "r" => "rue",
        "pl" => "place",
        "ch" | "che" | "chem" => "chemin",
        "rte" => "route",
        "imp" => "impasse",
        "all" => "allee",
        "crs" => "cours",
        "fg" | "fbg" => "faubourg",
        "sq" => "square",
        "res" | "resid" => "residence",
        "qu" | "qua" => "quai",
        "mte" => "montee",
        "pr" | "prom" => "promenade",
        "ccas" => "ccas",
        other => other,
    }
}

/// Lower-case, accent-free tokens of `text`, punctuation as separators, abbreviations expanded, articles dropped.
pub fn tokens(text: &str) -> Vec<String> {
    let folded = fold(text);
    let mut out = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, out: &mut Vec<String>| {
        if !current.is_empty() {
            let word = expand(current);
            if !STOP_WORDS.contains(&word) {
                out.push(word.to_owned());
            }
            current.clear();
        }
    };
    let mut previous_digit = false;
    for c in folded.chars() {
        if c.is_alphanumeric() {
            // "27bis" is "27 bis": the number and its suffix are separate words in other spellings.
            let digit = c.is_ascii_digit();
            if !current.is_empty() && digit != previous_digit {
                flush(&mut current, &mut out);
            }
            current.push(c);
            previous_digit = digit;
        } else {
            flush(&mut current, &mut out);
        }
    }
    flush(&mut current, &mut out);
    out
}

/// The identifying words of a site's name: [`tokens`] without the generic words of lieux names, unless nothing
/// else is left ("Médiathèque" alone stays "mediatheque").
pub fn name_tokens(name: &str) -> Vec<String> {
    let all = tokens(name);
    let specific: Vec<String> = all
        .iter()
        .filter(|t| !GENERIC_NAME_WORDS.contains(&t.as_str()))
        .cloned()
        .collect();
    if specific.is_empty() { all } else { specific }
}

/// Whether a name word is generic (it may not block two names together on its own).
pub fn is_generic_name_word(word: &str) -> bool {
    GENERIC_NAME_WORDS.contains(&word) || word.len() < 3 || word.chars().all(|c| c.is_ascii_digit())
}

/// The normal form of an address: its tokens joined by one space.
pub fn address(address: &str) -> String {
    tokens(address).join(" ")
}

/// The normal form of a commune name ("ST-MARTIN-D'HÈRES" and "Saint Martin d'Hères" agree).
pub fn commune(commune: &str) -> String {
    // Arrondissements are written "Marseille 3e Arrondissement" by some sources and "MARSEILLE" by others.
    tokens(commune)
        .into_iter()
        .filter(|t| {
            !t.chars().next().is_some_and(|c| c.is_ascii_digit())
                && !matches!(t.as_str(), "arrondissement" | "e" | "er" | "eme")
                && t != "cedex"
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The national significant number of a French phone number (9 digits, without `+33` or the leading `0`), or
/// `None` when it has too few digits to identify a line.
pub fn phone(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let national = if let Some(rest) = digits.strip_prefix("33").filter(|r| r.len() == 9) {
        rest
    } else if let Some(rest) = digits.strip_prefix('0').filter(|r| r.len() == 9) {
        rest
    } else {
        digits.as_str()
    };
    (national.len() >= 9).then(|| national.to_owned())
}

/// The lower-cased e-mail address.
pub fn email(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    e.contains('@').then_some(e)
}

/// The host of a website without `www.`, lower-cased (`https://www.Ville-X.fr/mediatheque` → `ville-x.fr`).
pub fn web_domain(url: &str) -> Option<String> {
    let first = url.split(['|', ';', ' ']).find(|s| !s.trim().is_empty())?;
    let s = first.trim().to_lowercase();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(&s);
    let host = s.split(['/', '?', '#', ':']).next()?;
    let host = host.strip_prefix("www.").unwrap_or(host);
    (host.contains('.') && host.len() > 3).then(|| host.to_owned())
}

/// Great-circle distance in metres between two WGS84 points (haversine; exact enough under a few kilometres).
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_000.0;
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_accents_articles_generic_words_and_abbreviations() {
        assert_eq!(name_tokens("Médiathèque de St-Martin"), ["saint", "martin"]);
        assert_eq!(name_tokens("MAIRIE DE SAINT MARTIN"), ["saint", "martin"]);
        assert_eq!(name_tokens("Médiathèque"), ["mediatheque"]);
        assert_eq!(name_tokens("L'Îlot"), ["ilot"]);
    }

    #[test]
    fn addresses_expand_abbreviations_and_split_numbers() {
        assert_eq!(
            address("27bis Bd Louis-Braille"),
            "27 bis boulevard louis braille"
        );
        assert_eq!(
            address("27 BIS boulevard Louis Braille"),
            "27 bis boulevard louis braille"
        );
        assert_eq!(address("Pl. de l'Église"), "place eglise");
    }

    #[test]
    fn communes_ignore_arrondissements_and_hyphens() {
        assert_eq!(commune("Marseille 3e Arrondissement"), "marseille");
        assert_eq!(
            commune("ST-MARTIN-D'HÈRES"),
            commune("Saint Martin d'Hères")
        );
    }

    #[test]
    fn phones_compare_on_their_national_number() {
        assert_eq!(phone("+33489228939"), phone("04 89 22 89 39"));
        assert_eq!(phone("04.89.22.89.39").as_deref(), Some("489228939"));
        assert_eq!(phone("3939"), None);
    }

    #[test]
    fn web_domains_drop_scheme_www_and_path() {
        assert_eq!(
            web_domain("https://www.Ville-X.fr/mediatheque?a=1").as_deref(),
            Some("ville-x.fr")
        );
        assert_eq!(
            web_domain("http://a.fr|https://b.fr").as_deref(),
            Some("a.fr")
        );
        assert_eq!(web_domain("n/a"), None);
    }

    #[test]
    fn distance_is_in_metres() {
        let d = distance_m((43.2965, 5.3698), (43.2974, 5.3698));
        assert!((d - 100.0).abs() < 1.0, "{d}");
    }
}
