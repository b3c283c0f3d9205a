"""Reading run folders: what each run left behind, and the labels that tell runs apart."""
