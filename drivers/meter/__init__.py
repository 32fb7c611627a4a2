"""DC meters: a simulated meter on the plant, and the V x I integrator fallback."""
