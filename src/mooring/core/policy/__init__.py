"""Pure guardrail rules, their evaluation and the admission policies generated from them."""
