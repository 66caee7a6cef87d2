//! The one evaluation path (lead writes it).
