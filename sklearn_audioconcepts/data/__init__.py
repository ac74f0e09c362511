"""Text vocabularies bundled with sklearn-audioconcepts (written for the project).

``audio_concepts.txt`` holds more than 2,000 short audio concepts, one per
line, grouped into sections (animals, human vocal sounds, vehicles, domestic
sounds, tools and machinery, nature and weather, environments, impacts and
materials, alarms and electronic sounds, instruments, music genres, musical
elements, vocal qualities, acoustic qualities, activities, descriptors).
They are names, not embeddings: embed them with the model whose audio
embeddings you decompose, e.g.
``ConceptVocabulary.from_texts(load_audio_concepts(), CLAPEmbedder())``.
"""

from importlib import resources

__all__ = ["audio_concept_sections", "load_audio_concepts"]

_AUDIO_CONCEPTS = "audio_concepts.txt"
_SECTION_PREFIX = "# section:"


def _read_sections():
    text = resources.files(__name__).joinpath(_AUDIO_CONCEPTS).read_text("utf-8")
    sections, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(_SECTION_PREFIX):
            current = line[len(_SECTION_PREFIX) :].strip()
            sections[current] = []
        elif line and not line.startswith("#"):
            sections[current].append(line)
    return sections


def audio_concept_sections():
    """Names of the sections of the bundled audio concepts, in file order.

    Returns
    -------
    sections : list of str

    Examples
    --------
    >>> from sklearn_audioconcepts.data import audio_concept_sections
    >>> audio_concept_sections()[:3]
    ['animals', 'human vocal sounds', 'vehicles and transport']
    """
    return list(_read_sections())


def load_audio_concepts(sections=None):
    """The bundled audio concept names, ready to embed.

    Parameters
    ----------
    sections : str, list of str or None, default=None
        Only these sections (see :func:`audio_concept_sections`); all when
        ``None``.

    Returns
    -------
    names : list of str
        Unique concept names, in file order.

    Examples
    --------
    >>> from sklearn_audioconcepts.data import load_audio_concepts
    >>> len(load_audio_concepts()) >= 2000
    True
    >>> load_audio_concepts("animals")[:2]
    ['dog barking', 'dog howling']
    """
    available = _read_sections()
    if sections is None:
        sections = list(available)
    elif isinstance(sections, str):
        sections = [sections]
    unknown = [name for name in sections if name not in available]
    if unknown:
        raise ValueError(
            f"Unknown section(s) {unknown}; the bundled audio concepts have "
            f"{list(available)}."
        )
    return [name for section in sections for name in available[section]]
