function scoLib() { return "loaded"; }
