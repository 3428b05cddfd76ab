# PLACEHOLDER: replaced by the demo work.
