"""Neural building blocks: GDN, the four transforms and the factorized density for z."""
