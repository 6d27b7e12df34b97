"""Curation: from a folder of videos to filtered, labelled, bucketed clips and a manifest (``vgen curate``)."""
