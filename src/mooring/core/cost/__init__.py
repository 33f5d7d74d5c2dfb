"""Pure cost model: quantities, prices and allocation."""
