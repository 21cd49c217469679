"""Language models in the loop: one ``llm:`` block (an OpenAI-compatible server or a local
``transformers`` model directory), every request cached by content, usage counted per stage."""
