"""law tasks of tmet: parameters, requirements and outputs; the physics is in analysis/."""
