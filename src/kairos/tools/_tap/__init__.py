"""Private helpers of ``kairos tap`` (and the live side of ``kairos record``): where the
streams come from, the mesh view built from them, and how it is drawn."""
