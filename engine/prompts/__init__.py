"""The prompt language pasted prompts assume (A1111's): extra-network tags and attention
weights (`syntax`), and the 75-token chunks the text encoder reads (`chunks`). Pure Python:
the tokenizer is passed in."""
